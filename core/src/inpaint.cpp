#include "ali/inpaint.h"

#include "ali/error.h"
#include "ali/refine.h"

namespace ali {

torch::Tensor rectangle_mask(const torch::Tensor& rects, int64_t height, int64_t width,
                             const torch::TensorOptions& options) {
  auto r = rects.to(torch::kLong).cpu();
  auto col = torch::arange(width, torch::kLong).view({1, 1, width});
  auto row = torch::arange(height, torch::kLong).view({1, height, 1});
  auto x0 = r.select(1, 0).view({-1, 1, 1}), y0 = r.select(1, 1).view({-1, 1, 1});
  auto x1 = x0 + r.select(1, 2).view({-1, 1, 1}), y1 = y0 + r.select(1, 3).view({-1, 1, 1});
  auto inside = col.ge(x0) & col.lt(x1) & row.ge(y0) & row.lt(y1);  // N x H x W
  auto dtype = options.has_dtype() ? options.dtype().toScalarType() : torch::kFloat;
  return inside.unsqueeze(1).to(torch::TensorOptions().dtype(dtype).device(options.device()));
}

torch::Tensor fill_holes(const torch::Tensor& x, const torch::Tensor& mask) {
  return x * (1 - mask) + kHoleValue * mask;
}

torch::Tensor random_rectangles(int64_t n, int64_t size) {
  const int64_t lo = std::max<int64_t>(1, size / 8), hi = std::max<int64_t>(lo, size / 2);
  auto w = torch::randint(lo, hi + 1, {n}, torch::kLong);
  auto h =
      torch::randint(lo, hi + 1, {n}, torch::kLong);  // independent of w (the released code's slip)
  auto x = (torch::rand({n}, torch::kDouble) * (size - w + 1).to(torch::kDouble))
               .floor()
               .to(torch::kLong);
  auto y = (torch::rand({n}, torch::kDouble) * (size - h + 1).to(torch::kDouble))
               .floor()
               .to(torch::kLong);
  return torch::stack({x, y, w, h}, 1);
}

bool trained_on_holes(const ModelConfig& c) { return c.objective == "gali-mix"; }

std::string inpainting_method(const ModelConfig& c) {
  if (trained_on_holes(c)) return "G(mu(E(x with the hole at the constant GALI-mix trains on)))";
  const InpaintOptions o;
  return "the hole filled with the mean of " + std::to_string(o.samples) +
         " samples G(z, y), then " + std::to_string(o.rounds) +
         " times with G(mu(E(.))) of the image so filled (inpaint_masked)";
}

torch::Tensor inpaint_masked(AliModel& m, const torch::Tensor& images, const torch::Tensor& mask,
                             const torch::Tensor& y, const InpaintOptions& o) {
  if (o.samples < 1 || o.rounds < 0 || o.refine_steps < 0)
    throw Error("inpainting: samples must be positive, rounds and refinement steps 0 or more");
  m.train(false);
  const auto dev = m.device();
  auto x = images.to(dev, torch::kFloat);
  auto hole = mask.to(dev, torch::kFloat);
  auto yd = y.defined() ? y.to(dev, torch::kFloat) : y;
  auto with_hole = [&](const torch::Tensor& fill) { return x * (1 - hole) + fill * hole; };
  torch::Tensor z;
  {
    torch::InferenceMode guard;
    auto encode = [&](const torch::Tensor& in) { return m.encoder->forward(in, yd).mu; };
    if (trained_on_holes(m.config)) {
      z = encode(fill_holes(x, hole));
    } else {
      auto fill = torch::zeros_like(x);
      for (int k = 0; k < o.samples; ++k)
        fill += m.decoder->forward(seeded_normal(x.size(0), m.config.nlat, o.seed + uint64_t(k)).to(dev), yd);
      z = encode(with_hole(fill / o.samples));
      for (int r = 0; r < o.rounds; ++r) z = encode(with_hole(m.decoder->forward(z, yd)));
    }
  }
  // Refined where something around the hole is known; a hole over the whole image keeps its fill.
  if (o.refine_steps > 0) {
    auto known = 1 - hole;
    auto rows = (known.flatten(1).sum(1) > 0).nonzero().flatten();
    if (rows.numel() > 0) {
      RefineOptions ro;
      ro.steps = o.refine_steps;
      ro.feature_weight = 0;
      ro.known = known.index_select(0, rows);
      auto some = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, rows) : t; };
      z = z.index_copy(0, rows, refine_codes(m, some(x), some(z), some(yd), ro).z.to(dev));
    }
  }
  torch::InferenceMode guard;
  auto filled = m.decoder->forward(z, yd);
  // Outside the hole the input itself, exactly (a select, not a blend, so no rounding touches it).
  return torch::where(hole.to(torch::kBool), filled, x).cpu();
}

torch::Tensor inpaint(AliModel& m, const torch::Tensor& images, const Rect& hole,
                      const torch::Tensor& y, const InpaintOptions& o) {
  const int64_t h = images.size(2), w = images.size(3);
  if (hole.w <= 0 || hole.h <= 0 || hole.x < 0 || hole.y < 0 || hole.x + hole.w > w ||
      hole.y + hole.h > h)
    throw Error("the hole " + std::to_string(hole.x) + "," + std::to_string(hole.y) + "," +
                std::to_string(hole.w) + "," + std::to_string(hole.h) +
                " does not lie inside the " + std::to_string(w) + "x" + std::to_string(h) +
                " image");
  auto rects = torch::tensor({hole.x, hole.y, hole.w, hole.h}, torch::kLong)
                   .view({1, 4})
                   .expand({images.size(0), 4});
  return inpaint_masked(m, images, rectangle_mask(rects, h, w), y, o);
}

Rect parse_rect(const std::string& text) {
  Rect r;
  char tail = 0;
  long long v[4];
  if (std::sscanf(text.c_str(), "%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
    throw Error("bad rectangle '" + text + "': use X,Y,W,H in pixels");
  r.x = v[0];
  r.y = v[1];
  r.w = v[2];
  r.h = v[3];
  return r;
}

}  // namespace ali
