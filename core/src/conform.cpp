#include "ali/conform.h"

#include <stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "ali/config.h"
#include "ali/error.h"
#include "ali/image_io.h"

namespace ali {
namespace {

// Pictures are analysed at most this large on their longer side (a 24-megapixel photo is read at
// 512 pixels: the object's box needs no more, and it keeps a drop well under 100 ms).
constexpr int kWorkSide = 512;
// The aligned CelebA images are 178 x 218; a picture of that aspect is taken as aligned.
constexpr double kAlignedAspect = 178.0 / 218.0;

// Float H x W x 3 in [0, 1] from uint8 H x W x C (grey replicated), scaled so the longer side is at
// most kWorkSide. `scale` returns work pixels per source pixel.
torch::Tensor working_copy(const torch::Tensor& hwc_in, double* scale) {
  auto hwc = hwc_in.contiguous();
  int h = int(hwc.size(0)), w = int(hwc.size(1)), c = int(hwc.size(2));
  *scale = 1.0;
  if (std::max(h, w) > kWorkSide) {
    *scale = double(kWorkSide) / std::max(h, w);
    int rw = std::max(1, int(std::lround(w * *scale))), rh = std::max(1, int(std::lround(h * *scale)));
    auto small = torch::empty({rh, rw, c}, torch::kUInt8);
    if (!stbir_resize_uint8(hwc.data_ptr<uint8_t>(), w, h, 0, small.data_ptr<uint8_t>(), rw, rh, 0, c))
      throw Error("image resize failed");
    hwc = small;
  }
  auto f = hwc.to(torch::kFloat).div_(255.0);
  if (c == 1) f = f.expand({-1, -1, 3});
  return f.narrow(2, 0, 3).contiguous();
}

torch::Tensor luma(const torch::Tensor& rgb) {
  return rgb.select(2, 0) * 0.299 + rgb.select(2, 1) * 0.587 + rgb.select(2, 2) * 0.114;
}

struct Background {
  torch::Tensor colour;  // 3
  torch::Tensor dist;    // H x W: max channel difference from the background colour
  double noise = 0;      // 90th percentile of that difference on the border
  double threshold = 0;  // foreground: dist above this
  bool clear = false;    // the border is (near) one colour
};

Background read_background(const torch::Tensor& rgb) {
  int64_t h = rgb.size(0), w = rgb.size(1);
  int64_t b = std::max<int64_t>(1, std::lround(0.03 * std::min(h, w)));
  auto border = torch::cat({rgb.narrow(0, 0, b).reshape({-1, 3}), rgb.narrow(0, h - b, b).reshape({-1, 3}),
                            rgb.narrow(1, 0, b).reshape({-1, 3}), rgb.narrow(1, w - b, b).reshape({-1, 3})});
  Background bg;
  bg.colour = std::get<0>(border.median(0));
  bg.dist = (rgb - bg.colour).abs().amax(2);
  auto border_dist = (border - bg.colour).abs().amax(1);
  bg.noise = torch::quantile(border_dist, 0.9).item<double>();
  bg.threshold = std::max(0.1, 1.5 * bg.noise + 0.04);
  bg.clear = bg.noise < 0.2;
  return bg;
}

// The bounding box of the foreground (work pixels): rows and columns holding at least a few
// foreground pixels, so single JPEG specks do not widen it. Empty when there is no foreground.
Box foreground_box(const torch::Tensor& mask) {
  int64_t h = mask.size(0), w = mask.size(1);
  auto rows = mask.sum(1), cols = mask.sum(0);
  double row_min = std::max(2.0, 0.01 * double(w)), col_min = std::max(2.0, 0.01 * double(h));
  auto r = (rows >= row_min).nonzero(), c = (cols >= col_min).nonzero();
  if (r.numel() == 0 || c.numel() == 0) return {};
  double y0 = r.min().item<double>(), y1 = r.max().item<double>();
  double x0 = c.min().item<double>(), x1 = c.max().item<double>();
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

Box clamp_box(Box b, double w, double h) {
  double x0 = std::clamp(b.x, 0.0, w), y0 = std::clamp(b.y, 0.0, h);
  double x1 = std::clamp(b.x + b.w, 0.0, w), y1 = std::clamp(b.y + b.h, 0.0, h);
  return {x0, y0, x1 - x0, y1 - y0};
}

Box scaled(const Box& b, double s) { return {b.x * s, b.y * s, b.w * s, b.h * s}; }

// Resamples the region `box` (work pixels, any aspect) of a float H x W x C image to `ow` x `oh`.
torch::Tensor resample(const torch::Tensor& img, const Box& box, int ow, int oh) {
  int64_t h = img.size(0), w = img.size(1);
  int x0 = std::clamp(int(std::floor(box.x)), 0, int(w) - 1);
  int y0 = std::clamp(int(std::floor(box.y)), 0, int(h) - 1);
  int x1 = std::clamp(int(std::ceil(box.x + box.w)), x0 + 1, int(w));
  int y1 = std::clamp(int(std::ceil(box.y + box.h)), y0 + 1, int(h));
  auto region = img.narrow(0, y0, y1 - y0).narrow(1, x0, x1 - x0).contiguous();
  int c = int(region.size(2));
  auto out = torch::empty({oh, ow, c}, torch::kFloat);
  if (!stbir_resize_float(region.data_ptr<float>(), x1 - x0, y1 - y0, 0, out.data_ptr<float>(), ow, oh, 0, c))
    throw Error("image resize failed");
  return out;
}

// A centred square of `side` around (cx, cy), moved inside the picture where it fits.
Box square_around(double cx, double cy, double side, double w, double h) {
  side = std::max(1.0, side);
  double x = cx - side / 2, y = cy - side / 2;
  if (side <= w) x = std::clamp(x, 0.0, w - side);
  if (side <= h) y = std::clamp(y, 0.0, h - side);
  return {x, y, side, side};
}

// The model's channels from a float H x W x 3 (or x 1) image, as C x H x W.
torch::Tensor to_model_channels(const torch::Tensor& hwc, int channels) {
  auto chw = hwc.permute({2, 0, 1});
  if (chw.size(0) == channels) return chw.contiguous();
  if (channels == 1) return luma(hwc).unsqueeze(0).contiguous();
  return chw.expand({3, -1, -1}).contiguous();
}

// A float H x W map box-blurred over `size` x `size` (odd), its border repeated outward.
torch::Tensor box_blur(const torch::Tensor& map, int size) {
  const int64_t r = size / 2;
  auto x = torch::replication_pad2d(map.unsqueeze(0).unsqueeze(0), {r, r, r, r});
  return torch::avg_pool2d(x, size, 1).squeeze(0).squeeze(0);
}

// Light unsharp masking (3x3 box blur, amount 0.3), as Fashion-MNIST's conversion sharpens after
// scaling down.
torch::Tensor sharpen(const torch::Tensor& grey) {
  return (grey + 0.3 * (grey - box_blur(grey, 3))).clamp(0, 1);
}

// The picture itself, shorter side to the frame and centre-cropped (conform_image): what every
// picture got before conforming, and the fallback when no object or background is found.
Conformed centre_crop(const torch::Tensor& hwc, const ModelConfig& c, const std::string& framing,
                      const std::string& warning = {}) {
  Conformed out;
  out.framing = framing;
  out.warning = warning;
  out.image = conform_image(hwc, c.image_size, c.image_channels).to(torch::kFloat).div_(255.0);
  double side = double(std::min(hwc.size(0), hwc.size(1)));
  out.box = {(hwc.size(1) - side) / 2, (hwc.size(0) - side) / 2, side, side};
  return out;
}

// `box` (work pixels) of the picture as the model's square image.
Conformed square_of(const torch::Tensor& rgb, const Box& box, double scale, const ModelConfig& c,
                    const std::string& framing) {
  Conformed out;
  out.framing = framing;
  out.box = scaled(box, 1.0 / scale);
  out.image = to_model_channels(resample(rgb, box, c.image_size, c.image_size), c.image_channels).clamp_(0, 1);
  return out;
}

// Rotates a float H x W map (zero outside the object) by `degrees` about its centre, on a canvas
// padded so that a turned object stays inside it.
torch::Tensor rotated(const torch::Tensor& map, double degrees) {
  namespace F = torch::nn::functional;
  const int64_t pad = std::lround(0.2 * double(std::max(map.size(0), map.size(1))));
  auto x = F::pad(map.unsqueeze(0).unsqueeze(0), F::PadFuncOptions({pad, pad, pad, pad}));
  const double h = double(x.size(2)), w = double(x.size(3)), a = degrees * M_PI / 180;
  // In affine_grid's normalised coordinates, a rotation of a non-square picture scales its terms by
  // the aspect.
  auto theta = torch::tensor({{std::cos(a), std::sin(a) * h / w, 0.0}, {-std::sin(a) * w / h, std::cos(a), 0.0}},
                             torch::kFloat)
                   .unsqueeze(0);
  auto grid = F::affine_grid(theta, {1, 1, x.size(2), x.size(3)}, false);
  return F::grid_sample(x, grid, F::GridSampleFuncOptions().align_corners(false)).squeeze(0).squeeze(0);
}

// A float H x W map as a copy of at most 128 pixels on its longer side (area-averaged).
torch::Tensor at_most_128(const torch::Tensor& map) {
  namespace F = torch::nn::functional;
  auto m = map.to(torch::kFloat);
  const double s = 128.0 / double(std::max(m.size(0), m.size(1)));
  if (s >= 1) return m;
  return F::interpolate(m.unsqueeze(0).unsqueeze(0),
                        F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{std::max<int64_t>(3, std::lround(m.size(0) * s)),
                                                       std::max<int64_t>(3, std::lround(m.size(1) * s))})
                            .mode(torch::kArea))
      .squeeze(0)
      .squeeze(0);
}

// A photographed object's small tilt, in degrees (within +-kMaxTilt): the turn that puts the edges
// of its outline nearest the axes. Each pixel's gradient angle of the soft object map, weighted by
// the squared gradient, is averaged modulo 90 degrees (the structure-tensor deskew), on a smoothed
// copy of at most 128 pixels. 0 when that is under 1 degree, or when turning by it would make the
// object's box larger than upright: objects slanted by design (a shoe's sole and instep) stay as
// they are. It replaced a search for the angle with the smallest box, which missed most tilted tops
// (their boxes barely change): on bench_photos' tilted garments (seed 1) the mean angle error went
// from 2.6 to 2.1 degrees (1.6 with garments turned whole), and conforming from 24-36 to 7 ms a photo.
constexpr double kMaxTilt = 12;
double tilt_of(const torch::Tensor& mask, const torch::Tensor& soft) {
  // Smoothed first (two 5 x 5 box blurs): a hard-edged outline's pixel steps would otherwise pull
  // every gradient onto the axes.
  auto m = box_blur(box_blur(at_most_128(soft), 5), 5);
  if (m.size(0) < 3 || m.size(1) < 3) return 0;
  const int64_t h = m.size(0) - 2, w = m.size(1) - 2;
  auto dx = (m.narrow(1, 2, w) - m.narrow(1, 0, w)).narrow(0, 1, h);
  auto dy = (m.narrow(0, 2, h) - m.narrow(0, 0, h)).narrow(1, 1, w);
  auto weight = dx * dx + dy * dy;
  auto four_phi = 4 * torch::atan2(dy, dx);
  double s = (weight * torch::sin(four_phi)).sum().item<double>();
  double c = (weight * torch::cos(four_phi)).sum().item<double>();
  if (s == 0 && c == 0) return 0;
  // The edges lie at atan2(s, c) / 4 from the axes; rotated() turns the other way round.
  const double tilt = -std::atan2(s, c) / 4 * 180 / M_PI;
  if (std::abs(tilt) < 1 || std::abs(tilt) > kMaxTilt) return 0;
  auto box_mask = at_most_128(mask);
  auto area = [&](double deg) {
    Box b = foreground_box(rotated(box_mask, deg) > 0.5);
    return b.empty() ? 1e30 : b.w * b.h;
  };
  return area(tilt) > area(0) ? 0.0 : tilt;
}

// The crop chosen by hand, in work pixels, or nullopt; ali::Error when it misses the picture.
std::optional<Box> hand_crop(const ConformOptions& o, const torch::Tensor& rgb, double scale) {
  if (!o.crop) return std::nullopt;
  Box box = clamp_box(scaled(*o.crop, scale), double(rgb.size(1)), double(rgb.size(0)));
  if (box.empty()) throw Error("the crop rectangle lies outside the image");
  return box;
}

Conformed object_framing(const torch::Tensor& hwc, const torch::Tensor& rgb, double scale,
                         const ModelConfig& c, const ConformOptions& o, double fill) {
  int64_t h = rgb.size(0), w = rgb.size(1);
  const int size = c.image_size;
  Background bg = read_background(rgb);
  auto mask = bg.dist > bg.threshold;
  Box box;
  std::string warning;
  if (auto hand = hand_crop(o, rgb, scale)) {
    box = *hand;
  } else if (o.auto_crop) {
    box = bg.clear ? foreground_box(mask) : Box{};
    double share = mask.to(torch::kFloat).mean().item<double>();
    if (!bg.clear) {
      warning = "no clear background (the border is not one colour): framed as a centre crop";
    } else if (box.empty() || share < 0.002) {
      warning = "no clear object (a uniform picture?): framed as a centre crop";
      box = {};
    }
  } else {
    box = {0, 0, double(w), double(h)};
  }
  if (box.empty()) return centre_crop(hwc, c, "centre", warning);

  // Polarity: the object light on black, as the dataset's negated photos.
  double bg_luma = (bg.colour * torch::tensor({0.299f, 0.587f, 0.114f})).sum().item<double>();
  bool invert = o.invert == Toggle::Auto ? bg_luma > 0.5 : o.invert == Toggle::On;
  auto y = luma(rgb);
  torch::Tensor v;
  const Box object_box = box;  // in the picture (box becomes v's, turned, when a tilt is undone)
  if (o.invert == Toggle::Auto && bg.clear) {
    // Contrast against the background, in the object's direction, and the colour difference (a red
    // shirt on a grey background of the same luma is still an object); the background fades to 0.
    auto contrast = invert ? (bg_luma - y) / std::max(bg_luma, 0.05) : (y - bg_luma) / std::max(1.0 - bg_luma, 0.05);
    v = torch::maximum(contrast, bg.dist).clamp(0, 1);
    auto t = bg.threshold;
    v = v * ((bg.dist - 0.5 * t) / (0.5 * t)).clamp(0, 1);
    // A tilted object is turned upright (automatic crops only: a hand crop is taken as it is).
    if (!o.crop && o.auto_crop) {
      // Only the object's region is looked at and turned (v is 0 around it): a photo's object may
      // be small in it.
      const double mx = 0.1 * box.w + 2, my = 0.1 * box.h + 2;
      Box r = clamp_box({box.x - mx, box.y - my, box.w + 2 * mx, box.h + 2 * my}, double(w), double(h));
      auto region = [&](const torch::Tensor& t) {
        return t.narrow(0, int64_t(r.y), int64_t(r.h)).narrow(1, int64_t(r.x), int64_t(r.w));
      };
      if (double tilt = tilt_of(region(mask), region(v)); tilt != 0) {
        auto turned_mask = rotated(region(mask).to(torch::kFloat), tilt) > 0.5;
        Box turned = foreground_box(turned_mask);
        if (!turned.empty()) {
          v = rotated(region(v), tilt);
          box = turned;
        }
      }
    }
  } else {
    v = invert ? 1.0 - y : y;
  }

  // Longest edge to `fill` of the frame, keeping the aspect; centred on a black canvas.
  double longest = std::max(box.w, box.h);
  int target = std::max(1, int(std::lround(size * fill)));
  int ow = std::clamp(int(std::lround(box.w * target / longest)), 1, size);
  int oh = std::clamp(int(std::lround(box.h * target / longest)), 1, size);
  auto obj = resample(v.unsqueeze(2).contiguous(), box, ow, oh).squeeze(2);
  if (longest > 2.0 * target) obj = sharpen(obj);
  auto canvas = torch::zeros({size, size});
  int x0 = (size - ow) / 2, y0 = (size - oh) / 2;
  canvas.narrow(0, y0, oh).narrow(1, x0, ow).copy_(obj.clamp(0, 1));
  // 8-bit grey, as the dataset stores it.
  canvas = canvas.mul(255.0).round_().div_(255.0);

  Conformed out;
  out.framing = "object";
  out.inverted = invert;
  out.box = scaled(object_box, 1.0 / scale);  // what the card shows: the source region, unturned
  out.image = to_model_channels(canvas.unsqueeze(2), c.image_channels);
  return out;
}

// Where the head sits in an aligned CelebA image's ALI crop (the centred 178 x 178 square), as
// measured on `ali make-faces` renders (tests/test_conform.cpp re-measures it): the crop's side is
// kHeadWidths times the head's width (the subject's widest extent in the band from its top down
// kHeadBand of that width), and its top lies kTopMargin crop sides above the subject's top.
constexpr double kHeadWidths = 1.51;
constexpr double kTopMargin = 0.10;
constexpr double kHeadBand = 0.6;

Conformed face_framing(const torch::Tensor& hwc, const torch::Tensor& rgb, double scale,
                       const ModelConfig& c, const ConformOptions& o) {
  int64_t h = rgb.size(0), w = rgb.size(1);
  Box box;
  double aspect = double(w) / double(h);
  if (auto hand = hand_crop(o, rgb, scale)) {
    box = *hand;
  } else if (!o.auto_crop || std::abs(aspect - kAlignedAspect) < 0.02) {
    // An aligned image (or auto-crop off): the ALI crop, the centred square of the shorter side.
    double side = double(std::min(h, w));
    box = {(w - side) / 2, (h - side) / 2, side, side};
  } else {
    Background bg = read_background(rgb);
    Box fg = bg.clear ? foreground_box(bg.dist > bg.threshold) : Box{};
    if (fg.empty())
      return centre_crop(hwc, c, "centre",
                         bg.clear ? "no clear subject (a uniform picture?): framed as a centre crop"
                                  : "no clear background to find the head against: framed as a centre crop");
    // The head: the subject's extent in the rows just under its top (shoulders come further down).
    auto mask = (bg.dist > bg.threshold).to(torch::kFloat);
    double head_w = fg.w;
    for (int pass = 0; pass < 3; ++pass) {  // the band depends on the width it measures
      int64_t band = std::clamp<int64_t>(std::lround(kHeadBand * head_w), 1, h - int64_t(fg.y));
      auto cols = mask.narrow(0, int64_t(fg.y), band).sum(0);
      auto on = (cols >= std::max(2.0, 0.05 * double(band))).nonzero();
      if (on.numel() == 0) break;
      head_w = on.max().item<double>() - on.min().item<double>() + 1;
      fg.x = on.min().item<double>();
    }
    double side = kHeadWidths * head_w;
    double cx = fg.x + head_w / 2, top = fg.y - kTopMargin * side;
    box = square_around(cx, top + side / 2, side, double(w), double(h));
  }
  return square_of(rgb, box, scale, c, "face");
}

}  // namespace

Framing framing_for_dataset(const std::string& dataset) {
  std::string d = dataset;
  std::transform(d.begin(), d.end(), d.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (d.find("celeba") != std::string::npos) return {"face", 1.0};
  if (d.find("fashion") != std::string::npos) return {"object", 1.0};
  if (d.find("mnist") != std::string::npos) return {"object", 20.0 / 28.0};
  return {"centre", 1.0};
}

Framing parse_framing(const std::string& kind) {
  if (kind == "object" || kind == "face" || kind == "centre") return {kind, 1.0};
  throw Error("unknown framing '" + kind + "' (object, face or centre)");
}

void to_json(nlohmann::json& j, const Framing& f) { j = nlohmann::json{{"kind", f.kind}, {"fill", f.fill}}; }

void from_json(const nlohmann::json& j, Framing& f) {
  f = parse_framing(j.at("kind").get<std::string>());
  f.fill = j.value("fill", 1.0);
  if (!(f.fill > 0.05 && f.fill <= 1.0)) throw Error("framing fill must lie in (0.05, 1]");
}

Conformed conform(const torch::Tensor& hwc, const ModelConfig& config, const ConformOptions& o) {
  TORCH_CHECK(hwc.dim() == 3 && hwc.scalar_type() == torch::kUInt8, "expected uint8 HxWxC");
  if (hwc.size(0) < 1 || hwc.size(1) < 1) throw Error("the image is empty");
  ModelConfig c = config.resolved();
  const Framing f = c.framing_in_use();
  if (o.raw) return centre_crop(hwc, c, "raw");
  if (f.kind == "centre" && !o.crop) return centre_crop(hwc, c, "centre");
  torch::NoGradGuard no_grad;
  double scale = 1.0;
  auto rgb = working_copy(hwc, &scale);
  if (f.kind == "object") return object_framing(hwc, rgb, scale, c, o, f.fill);
  if (f.kind == "face") return face_framing(hwc, rgb, scale, c, o);
  return square_of(rgb, *hand_crop(o, rgb, scale), scale, c, "centre");
}

Conformed conform_file(const std::filesystem::path& path, const ModelConfig& config,
                       const ConformOptions& options) {
  return conform(decode_image_file(path), config, options);
}

}  // namespace ali
