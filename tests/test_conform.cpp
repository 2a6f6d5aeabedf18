// Domain conforming (ali/conform.h) on pictures with known answers, the framing's round trip
// through checkpoints, and latent refinement (ali/refine.h).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ali/checkpoint.h"
#include "ali/conform.h"
#include "ali/faces.h"
#include "ali/refine.h"
#include "test_util.h"

using namespace ali;

namespace {

ModelConfig fmnist_config() {
  ModelConfig c;
  c.arch = "fmnist28";
  c.dataset = "fashion-mnist";
  return c.resolved();
}

// A W x H RGB picture of one colour with a filled rectangle of another.
torch::Tensor picture(int w, int h, std::array<int, 3> bg, int rx, int ry, int rw, int rh,
                      std::array<int, 3> fg) {
  auto img = torch::empty({h, w, 3}, torch::kUInt8);
  for (int c = 0; c < 3; ++c) img.select(2, c).fill_(bg[size_t(c)]);
  for (int c = 0; c < 3; ++c) img.narrow(0, ry, rh).narrow(1, rx, rw).select(2, c).fill_(fg[size_t(c)]);
  return img;
}

// Bounding box of pixels above `level` in a 1 x S x S image: {x0, y0, x1, y1} inclusive.
std::array<int, 4> bright_box(const torch::Tensor& img, float level = 0.5f) {
  auto on = (img[0] > level).nonzero();
  if (on.numel() == 0) return {-1, -1, -1, -1};
  return {int(on.select(1, 1).min().item<int64_t>()), int(on.select(1, 0).min().item<int64_t>()),
          int(on.select(1, 1).max().item<int64_t>()), int(on.select(1, 0).max().item<int64_t>())};
}

}  // namespace

TEST(Conform, DarkSquareOnWhiteComesOutLightOnBlackCentredAndFillingTheFrame) {
  // A 60 x 30 dark rectangle, off-centre in a 400 x 300 white picture.
  auto img = picture(400, 300, {250, 250, 250}, 40, 200, 60, 30, {20, 20, 20});
  auto r = conform(img, fmnist_config());
  EXPECT_EQ(r.framing, "object");
  EXPECT_TRUE(r.inverted);
  EXPECT_TRUE(r.warning.empty()) << r.warning;
  ASSERT_EQ(r.image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  // Longest edge (60) to 28, the aspect kept (30 -> 14), centred on black.
  auto b = bright_box(r.image);
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[2], 27);
  EXPECT_NEAR(b[3] - b[1] + 1, 14, 1);
  EXPECT_NEAR((b[1] + b[3]) / 2.0, 13.5, 1.0);
  EXPECT_GT(r.image[0][14][14].item<float>(), 0.9f);
  EXPECT_LT(r.image[0][2][14].item<float>(), 0.02f);  // background: black
  EXPECT_NEAR(r.box.x, 40, 2);
  EXPECT_NEAR(r.box.y, 200, 2);
  EXPECT_NEAR(r.box.w, 60, 2);
  EXPECT_NEAR(r.box.h, 30, 2);
}

TEST(Conform, ATiltedObjectIsTurnedUprightUnlessCroppedByHand) {
  // The same 60 x 30 dark rectangle turned by 7 degrees: its upright box would be about 63 x 37.
  const int w = 400, h = 300;
  auto img = torch::full({h, w, 3}, 250, torch::kUInt8);
  const double a = 7 * M_PI / 180, cx = 200, cy = 150;
  auto acc = img.accessor<uint8_t, 3>();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double u = std::cos(a) * (x - cx) + std::sin(a) * (y - cy), v = -std::sin(a) * (x - cx) + std::cos(a) * (y - cy);
      if (std::abs(u) < 30 && std::abs(v) < 15)
        for (int c = 0; c < 3; ++c) acc[y][x][c] = 20;
    }
  auto r = conform(img, fmnist_config());
  auto b = bright_box(r.image);
  EXPECT_EQ(b[2] - b[0] + 1, 28);
  EXPECT_NEAR(b[3] - b[1] + 1, 14, 1);  // as the upright rectangle: the tilt was undone
  EXPECT_NEAR(r.box.w, 63, 4);          // the card still shows where it is in the picture
  ConformOptions hand;
  hand.crop = Box{166, 129, 68, 42};  // around the tilted rectangle
  auto b2 = bright_box(conform(img, fmnist_config(), hand).image);
  EXPECT_GE(b2[3] - b2[1] + 1, 14);  // taken as it is: 37 of 68 rows (turned, it would be 30: 12 px)
}

TEST(Conform, TiltsEitherWayAreUndoneAndSlantedOutlinesStayUpright) {
  const int w = 400, h = 300;
  // A 90 x 40 rectangle turned 4 degrees the other way: upright again (its box 90 x 40, 28 x 12).
  auto img = torch::full({h, w, 3}, 240, torch::kUInt8);
  auto acc = img.accessor<uint8_t, 3>();
  const double a = -4 * M_PI / 180, cx = 200, cy = 150;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double u = std::cos(a) * (x - cx) + std::sin(a) * (y - cy), v = -std::sin(a) * (x - cx) + std::cos(a) * (y - cy);
      if (std::abs(u) < 45 && std::abs(v) < 20)
        for (int c = 0; c < 3; ++c) acc[y][x][c] = 30;
    }
  auto b = bright_box(conform(img, fmnist_config()).image);
  EXPECT_EQ(b[2] - b[0] + 1, 28);
  EXPECT_NEAR(b[3] - b[1] + 1, 12, 1);  // turned, it would be 28 x 14
  // An upright wedge (a shoe's outline: flat sole, upright heel, instep sloping 20 degrees): its edges
  // are not all on the axes, but turning it would only widen its box, so it is left upright.
  auto shoe = torch::full({h, w, 3}, 240, torch::kUInt8);
  auto s = shoe.accessor<uint8_t, 3>();
  for (int y = 100; y < 160; ++y)
    for (int x = 80; x < 320; ++x)
      if (160 - y <= (320 - x) * std::tan(20 * M_PI / 180) + 8)
        for (int c = 0; c < 3; ++c) s[y][x][c] = 30;
  auto conformed_shoe = conform(shoe, fmnist_config()).image;
  auto bs = bright_box(conformed_shoe);
  EXPECT_EQ(bs[2] - bs[0] + 1, 28);
  EXPECT_NEAR(bs[3] - bs[1] + 1, 7, 1);  // 240 x 60 upright
  // The sole is flat: its row is lit across the frame (turned the 5 degrees its edges suggest, about
  // a third of it would be).
  EXPECT_GE((conformed_shoe[0][bs[3]] > 0.5f).sum().item<int64_t>(), 24);
}

TEST(Conform, ATintedBackgroundAndColouredObjectStillGiveABlackBackground) {
  auto img = picture(300, 300, {200, 225, 245}, 100, 60, 80, 160, {150, 30, 40});
  auto r = conform(img, fmnist_config());
  EXPECT_TRUE(r.inverted);
  EXPECT_LT(r.image[0][0][0].item<float>(), 0.02f);
  EXPECT_GT(r.image[0][14][14].item<float>(), 0.3f);
  auto b = bright_box(r.image, 0.2f);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[3], 27);  // the tall side fills the frame
}

TEST(Conform, ALightObjectOnBlackIsLeftAsItIs) {
  // Already in the dataset's framing: a light shape filling a black 28 x 28 frame's height.
  auto img = picture(28, 28, {0, 0, 0}, 8, 0, 12, 28, {200, 200, 200});
  auto r = conform(img, fmnist_config());
  EXPECT_FALSE(r.inverted);
  auto raw = conform(img, fmnist_config(), ConformOptions{.raw = true});
  EXPECT_LT((r.image - raw.image).abs().max().item<float>(), 0.05f);
}

TEST(Conform, AUniformOrNoisyPictureWarnsAndIsFramedAsACentreCrop) {
  auto uniform = picture(50, 80, {128, 128, 128}, 0, 0, 1, 1, {128, 128, 128});
  auto r = conform(uniform, fmnist_config());
  EXPECT_FALSE(r.warning.empty());
  EXPECT_EQ(r.framing, "centre");
  EXPECT_EQ(r.image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  torch::manual_seed(1);
  auto noise = torch::randint(0, 256, {64, 64, 3}, torch::kInt64).to(torch::kUInt8);
  auto n = conform(noise, fmnist_config());
  EXPECT_FALSE(n.warning.empty());
  EXPECT_TRUE(torch::isfinite(n.image).all().item<bool>());
}

TEST(Conform, OverridesInvertAutoCropAndAHandCrop) {
  auto img = picture(200, 100, {255, 255, 255}, 20, 20, 40, 40, {0, 0, 0});
  ConformOptions o;
  o.invert = Toggle::Off;
  auto r = conform(img, fmnist_config(), o);
  EXPECT_FALSE(r.inverted);
  EXPECT_LT(r.image[0][14][14].item<float>(), 0.1f);  // the black square stays black
  EXPECT_GT(conform(img, fmnist_config()).image[0][14][14].item<float>(), 0.9f);  // auto negates it
  o = {};
  o.auto_crop = false;  // the whole picture: 200 wide to 28, the square a fifth of it
  auto whole = conform(img, fmnist_config(), o);
  EXPECT_NEAR(whole.box.w, 200, 1);
  EXPECT_NEAR(bright_box(whole.image)[2] - bright_box(whole.image)[0] + 1, 6, 1);
  o = {};
  o.crop = Box{10, 10, 60, 60};
  auto hand = conform(img, fmnist_config(), o);
  EXPECT_NEAR(hand.box.x, 10, 1);
  EXPECT_NEAR(hand.box.w, 60, 1);
  o.crop = Box{500, 500, 10, 10};
  EXPECT_THROW(conform(img, fmnist_config(), o), Error);
}

TEST(Conform, ALargePictureIsBoundedAndStillFramed) {
  auto img = picture(4000, 3000, {255, 255, 255}, 1000, 1000, 800, 400, {10, 10, 10});
  auto r = conform(img, fmnist_config());
  EXPECT_TRUE(r.inverted);
  // In source pixels, though analysed at 512 (one analysed pixel is 8 of these).
  EXPECT_NEAR(r.box.x, 1000, 16);
  EXPECT_NEAR(r.box.w, 800, 16);
}

TEST(Conform, FramingRoundTripsThroughCheckpointsAndOldFilesGetTheirDatasets) {
  EXPECT_EQ(framing_for_dataset("fashion-mnist").kind, "object");
  EXPECT_EQ(framing_for_dataset("celeba").kind, "face");
  EXPECT_EQ(framing_for_dataset("mnist").kind, "object");
  EXPECT_LT(framing_for_dataset("mnist").fill, 1.0);
  EXPECT_EQ(framing_for_dataset("svhn").kind, "centre");
  EXPECT_THROW(parse_framing("sideways"), Error);

  ModelConfig c = fmnist_config();
  c.framing = {"object", 0.75};
  nlohmann::json j = c;
  EXPECT_EQ(j.get<ModelConfig>().framing, c.framing);
  // A file from before framings: no key, the dataset's.
  j.erase("framing");
  j["dataset"] = "celeba";
  EXPECT_EQ(j.get<ModelConfig>().framing_in_use().kind, "face");
  // A model built before its data is known (as `ali train` builds it) takes its dataset's framing
  // once the trainer names the dataset.
  ModelConfig fresh;
  fresh.arch = "fmnist28";
  AliModel before_data(fresh);
  before_data.config.dataset = "fashion-mnist";
  EXPECT_EQ(before_data.config.framing_in_use().kind, "object");
  EXPECT_EQ(nlohmann::json(before_data.config)["framing"]["kind"], "object");

  test::TempDir dir;
  AliModel m(c);
  save_model(dir.path() / "m.ali", m, {});
  auto back = load_model(dir.path() / "m.ali", torch::kCPU);
  EXPECT_EQ(back->config.framing, c.framing);
}

TEST(Conform, AnAlignedFaceIsTheAliCropAndTheSameFaceInALooserPortraitFramesAlike) {
  ModelConfig c;
  c.arch = "celeba64-compact";
  c.dataset = "celeba";
  c = c.resolved();
  double total = 0, width_error = 0;
  int n = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto face = render_face(draw_face_attributes(seed), seed);  // 218 x 178 x 3, aligned
    auto aligned = conform(face, c);
    EXPECT_EQ(aligned.framing, "face");
    EXPECT_NEAR(aligned.box.y, 20, 1);
    EXPECT_NEAR(aligned.box.w, 178, 1);
    // The same face, smaller, off-centre on a larger canvas of its own background colour.
    auto small = torch::nn::functional::interpolate(
                     face.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat),
                     torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{164, 134}).mode(torch::kBilinear).align_corners(false))
                     .squeeze(0).permute({1, 2, 0}).round().clamp(0, 255).to(torch::kUInt8);
    auto canvas = torch::empty({300, 320, 3}, torch::kUInt8);
    canvas.copy_(face[2][2].view({1, 1, 3}).expand({300, 320, 3}));
    canvas.narrow(0, 136, 164).narrow(1, 40, 134).copy_(small);  // shoulders on the bottom edge
    auto loose = conform(canvas, c);
    EXPECT_EQ(loose.framing, "face");
    EXPECT_TRUE(loose.warning.empty()) << loose.warning;
    double mse = (loose.image - aligned.image).pow(2).mean().item<double>();
    total += mse;
    ++n;
    // The crop lands on the face: within a fifth of its size (hats and wavy hair widen the head, baldness narrows it), a tenth on average of where the aligned crop puts it.
    double scale = 134.0 / 178.0;
    if (std::getenv("ALI_PRINT_FACE_BOXES"))
      std::printf("seed %llu box %.1f %.1f %.1f (want %.1f %.1f %.1f) mse %.4f\n", (unsigned long long)seed,
                  loose.box.x, loose.box.y, loose.box.w, 40.0, 136 + 20 * scale, 178 * scale, mse);
    width_error += std::abs(loose.box.w - 178 * scale) / (178 * scale);
    EXPECT_NEAR(loose.box.w, 178 * scale, 0.2 * 178 * scale) << "seed " << seed;
    EXPECT_NEAR(loose.box.x, 40, 0.2 * 178 * scale) << "seed " << seed;
    EXPECT_NEAR(loose.box.y, 136 + 20 * scale, 0.2 * 178 * scale) << "seed " << seed;
  }
  EXPECT_LT(total / n, 0.02);
  EXPECT_LT(width_error / n, 0.1);
}

TEST(Refine, LowersTheReconstructionErrorWhereTheEncoderIsPoor) {
  torch::manual_seed(3);
  // The shipped decoder, with an encoder reset to its untrained initialisation: E(x) is far from the
  // code that made x.
  auto model = load_model(std::string(ALI_ASSETS_DIR) + "/fmnist28.ali", torch::kCPU);
  AliModel& m = *model;
  init_weights(*m.encoder);
  auto z_true = torch::randn({2, m.config.nlat});
  auto x = decode(m, z_true);
  auto mu = encode_mu(m, x);
  RefineOptions o;
  o.steps = 60;
  o.prior_weight = 0;
  int calls = 0;
  auto r = refine_codes(m, x, mu, {}, o, {}, [&](int, double, const torch::Tensor&) { return ++calls < 1000; });
  EXPECT_EQ(calls, 60);
  ASSERT_EQ(r.mse.size(), 61u);
  EXPECT_LT(r.mse.back(), 0.5 * r.mse.front());
  // The decoder's weights are untouched and still trainable.
  for (auto& p : m.decoder->parameters()) EXPECT_TRUE(p.requires_grad());
  auto again = decode(m, z_true);
  EXPECT_TRUE(torch::equal(again, x));
  // Stopping early returns the codes so far.
  auto early = refine_codes(m, x, mu, {}, o, {}, [](int step, double, const torch::Tensor&) { return step < 5; });
  EXPECT_EQ(early.mse.size(), 6u);
}

TEST(Refine, ChunksResumedFromTheirMomentsMatchOneRun) {
  // The explorer refines 25 steps at a time: going on from a chunk's code and Adam moments must be
  // the same descent as one run (a fresh Adam per chunk restarts its step sizes and bias correction).
  torch::manual_seed(4);
  auto model = load_model(std::string(ALI_ASSETS_DIR) + "/fmnist28.ali", torch::kCPU);
  AliModel& m = *model;
  auto x = decode(m, torch::randn({2, m.config.nlat}));
  auto mu = encode_mu(m, x) + 0.5;
  RefineOptions o;
  o.steps = 40;
  auto whole = refine_codes(m, x, mu, {}, o);
  EXPECT_EQ(whole.moments.step, 40);
  o.steps = 15;
  auto first = refine_codes(m, x, mu, {}, o);
  o.steps = 25;
  o.resume = first.moments;
  auto second = refine_codes(m, x, first.z, {}, o);
  EXPECT_EQ(second.moments.step, 40);
  EXPECT_LT((second.z - whole.z).abs().max().item<double>(), 1e-5);
  EXPECT_NEAR(second.mse.back(), whole.mse.back(), 1e-6);
  // Without the moments, the second chunk takes another path.
  o.resume = {};
  auto fresh = refine_codes(m, x, first.z, {}, o);
  EXPECT_GT((fresh.z - whole.z).abs().max().item<double>(), 1e-3);
  // Moments of other codes are refused.
  o.resume = first.moments;
  EXPECT_THROW(refine_codes(m, x.narrow(0, 0, 1), first.z.narrow(0, 0, 1), {}, o), Error);
}
