// Real photos in: photo-style variants of Fashion-MNIST test images (light, tinted and dark
// backgrounds, colour, 4-10x larger, off-centre, small rotations, blur, JPEG), encoded as they come
// (raw: resize and centre crop, what drops did before conforming), conformed (ali/conform.h), and
// conformed then refined (ali/refine.h). Prints the linear probe's accuracy on each set of codes
// against the originals', reconstruction MSE against the original image, label preservation, and the
// refinement's time per image. Figures only; asserts nothing.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "ali/checkpoint.h"
#include "ali/conform.h"
#include "ali/data.h"
#include "ali/error.h"
#include "ali/evaluation.h"
#include "ali/image_io.h"
#include "ali/latent.h"
#include "ali/refine.h"
#include "bench_util.h"

namespace fs = std::filesystem;
using namespace ali;

namespace {

// A photo of the garment `v` (1 x 28 x 28 float, light on black): uint8 H x W x 3.
// max_rotation (degrees) and blur_share (of the photos blurred) let a run leave those out, to see what
// they cost. The garment is turned whole; clip_rotation turns it within its own square, cutting the
// corners of garments that fill it (the generator's first version, kept to compare figures with).
torch::Tensor photo_variant(const torch::Tensor& v, std::mt19937_64& rng, const fs::path& tmp, double max_rotation,
                            double blur_share, bool clip_rotation) {
  std::uniform_real_distribution<double> U(0, 1);
  namespace F = torch::nn::functional;
  int side = int(28 * (4 + 6 * U(rng)));
  auto obj = F::interpolate(v.unsqueeze(0), F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{side, side})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  double angle = (U(rng) * 2 - 1) * max_rotation * M_PI / 180;  // +-8 degrees by default
  if (!clip_rotation) {  // room for the corners: sin(8 degrees) of the side, and some
    int pad = int(std::ceil(side * 0.12));
    obj = F::pad(obj, F::PadFuncOptions({pad, pad, pad, pad}));
    side += 2 * pad;
  }
  auto theta = torch::tensor({{std::cos(angle), -std::sin(angle), 0.0}, {std::sin(angle), std::cos(angle), 0.0}},
                             torch::kFloat)
                   .unsqueeze(0);
  auto grid = F::affine_grid(theta, {1, 1, side, side}, false);
  obj = F::grid_sample(obj, grid, F::GridSampleFuncOptions().align_corners(false)).clamp(0, 1);
  if (U(rng) < blur_share) {  // blur
    for (int i = 0; i < 1 + side / 100; ++i)
      obj = torch::avg_pool2d(torch::replication_pad2d(obj, {1, 1, 1, 1}), 3, 1);
  }
  int w = int(side * (1.15 + 0.6 * U(rng))), h = int(side * (1.15 + 0.6 * U(rng)));
  int x0 = int(U(rng) * (w - side)), y0 = int(U(rng) * (h - side));
  auto alpha = torch::zeros({1, 1, h, w});
  alpha.narrow(2, y0, side).narrow(3, x0, side).copy_(obj);
  // The garment's luma follows the dataset's own conversion (Fashion-MNIST negated its product photos:
  // photo luma = background luma x (1 - v) on a light background); its hue is random (a dye whose luma
  // is 1), and a fifth of the photos have a dark background (luma rises with v instead).
  bool light = U(rng) < 0.8;
  auto bg = torch::empty({3, 1, 1}), dye = torch::empty({3, 1, 1});
  for (int c = 0; c < 3; ++c) {
    bg[c] = light ? float(0.78 + 0.22 * U(rng)) : float(0.2 * U(rng));
    dye[c] = float(0.6 + 0.8 * U(rng));
  }
  dye = dye / (dye * torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1})).sum();
  double bg_luma = (bg.flatten() * torch::tensor({0.299f, 0.587f, 0.114f})).sum().item<double>();
  auto img = light ? bg - alpha[0] * bg_luma * dye : bg + alpha[0] * (1 - bg_luma) * dye;
  img = img.clamp(0, 1);
  img = (img + torch::randn_like(img) * (2.0 / 255)).clamp(0, 1);
  if (U(rng) < 0.5) {  // through JPEG
    auto path = tmp / "variant.jpg";
    save_image(path, img);
    return decode_image_file(path);
  }
  return to_hwc_u8(img);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"photo-style variants: conforming and refinement figures"};
  std::string model_path = std::string(ALI_ASSETS_DIR) + "/fmnist28.ali", data = "fashion-mnist", shots;
  int count = 1000, per_class = 100, draws = 3, steps = 100, timing = 10;
  uint64_t seed = 1;
  app.add_option("--model", model_path)->capture_default_str();
  app.add_option("--data", data)->capture_default_str();
  app.add_option("--count", count, "test images made into photos")->capture_default_str();
  app.add_option("--per-class", per_class, "probe: labelled training images per class")->capture_default_str();
  app.add_option("--draws", draws, "probe: draws of those images")->capture_default_str();
  app.add_option("--refine", steps, "refinement steps")->capture_default_str();
  app.add_option("--timing", timing, "single-image refinements timed")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  double max_rotation = 8, blur_share = 0.5;
  bool clip_rotation = false;
  app.add_option("--max-rotation", max_rotation, "photos: rotation of up to +- this many degrees")->capture_default_str();
  app.add_option("--blur-share", blur_share, "photos: the share of them blurred")->capture_default_str();
  app.add_flag("--clip-rotation", clip_rotation,
               "photos: turn each garment within its own square, cutting the corners of those that fill it "
               "(the first version of this bench)");
  app.add_option("--shots", shots, "write a PNG of the first 12: photo, conformed, G(E), refined");
  CLI11_PARSE(app, argc, argv);
  try {
    auto m = load_model(model_path, torch::kCPU);
    const ModelConfig& c = m->config;
    auto train = load_dataset(data, "train", c.image_size, c.image_channels);
    auto test = load_dataset(data, "test", c.image_size, c.image_channels);
    if (!test.labels.defined()) throw Error("the photo bench needs a labelled dataset");
    ClassifierReport report;
    auto classifier = cached_classifier(default_classifier_path(data, c.image_channels, c.image_size), train,
                                        test, &report);
    classifier->eval();
    for (auto& p : classifier->parameters()) p.requires_grad_(false);
    int classes = int(train.class_names.size());
    auto ys = [&](const torch::Tensor& labels) {
      return c.conditional() ? torch::one_hot(labels, classes).to(torch::kFloat) : torch::Tensor();
    };
    count = int(std::min<int64_t>(count, test.size()));
    auto rows = torch::arange(count);
    auto x = test.float_images(rows);
    auto labels = test.labels.narrow(0, 0, count);
    auto y = ys(labels);

    // The photos, and what the model sees of them.
    fs::path tmp = fs::temp_directory_path() / ("ali-bench-photos-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    std::mt19937_64 rng(seed);
    torch::manual_seed(int64_t(seed));
    std::vector<torch::Tensor> raw, conformed;
    std::vector<double> conform_ms;
    int warnings = 0, inverted = 0;
    for (int i = 0; i < count; ++i) {
      auto photo = photo_variant(x[i], rng, tmp, max_rotation, blur_share, clip_rotation);
      ConformOptions r;
      r.raw = true;
      raw.push_back(conform(photo, c, r).image);
      auto t0 = std::chrono::steady_clock::now();
      auto cf = conform(photo, c);
      conform_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      warnings += !cf.warning.empty();
      inverted += cf.inverted;
      conformed.push_back(cf.image);
    }
    fs::remove_all(tmp);
    auto xr = torch::stack(raw), xc = torch::stack(conformed);

    // Probe: trained on encoded training images (the same draws for every test set).
    auto train_features = [&](const torch::Tensor& idx) {
      auto tl = train.labels.index_select(0, idx);
      return encode_mu(*m, train.float_images(idx), ys(tl));
    };
    auto probe = [&](const torch::Tensor& codes) {
      return linear_probe(train_features, train.labels, codes, labels, classes, per_class, draws, seed).mean;
    };
    auto mu_x = encode_mu(*m, x, y), mu_r = encode_mu(*m, xr, y), mu_c = encode_mu(*m, xc, y);
    double p_x = probe(mu_x), p_r = probe(mu_r), p_c = probe(mu_c);

    // Refinement of the conformed photos' codes, in batches of 100.
    FeatureFn features = [&](const torch::Tensor& images) { return classifier->features(images); };
    RefineOptions ro;
    ro.steps = steps;
    std::vector<torch::Tensor> refined;
    for (int64_t a = 0; a < count; a += 100) {
      int64_t n = std::min<int64_t>(100, count - a);
      auto yb = y.defined() ? y.narrow(0, a, n) : y;
      refined.push_back(refine_codes(*m, xc.narrow(0, a, n), mu_c.narrow(0, a, n), yb, ro, features).z);
    }
    auto z_ref = torch::cat(refined);
    double p_ref = probe(z_ref);
    std::vector<double> seconds, cpu_seconds;
    for (int i = 0; i < std::min(timing, count); ++i) {
      auto yi = y.defined() ? y.narrow(0, i, 1) : y;
      double c0 = bench::process_cpu_ms();
      seconds.push_back(refine_codes(*m, xc.narrow(0, i, 1), mu_c.narrow(0, i, 1), yi, ro, features).seconds);
      cpu_seconds.push_back((bench::process_cpu_ms() - c0) / 1e3);
    }

    auto figures = [&](const torch::Tensor& rec) {
      double mse = (rec - x).pow(2).mean().item<double>();
      double kept = (classify(classifier, rec) == labels).to(torch::kFloat).mean().item<double>();
      return std::make_pair(mse, kept);
    };
    auto [mse_x, kept_x] = figures(decode(*m, mu_x, y));
    auto [mse_r, kept_r] = figures(decode(*m, mu_r, y));
    auto [mse_c, kept_c] = figures(decode(*m, mu_c, y));
    auto rec_ref = decode(*m, z_ref, y);
    auto [mse_f, kept_f] = figures(rec_ref);
    // Refinement against the conformed photo, which is what it sees: its own error there.
    double own_before = (decode(*m, mu_c, y) - xc).pow(2).mean().item<double>();
    double own_after = (rec_ref - xc).pow(2).mean().item<double>();

    std::printf("model %s on %d photo-style variants of %s test images (seed %llu)\n", model_path.c_str(), count,
                data.c_str(), (unsigned long long)seed);
    std::printf("conforming: %d inverted, %d warnings, median %.1f ms per photo\n", inverted, warnings,
                bench::median(conform_ms));
    std::printf("linear probe on mu (%d labels/class, %d draws): originals %.3f\n", per_class, draws, p_x);
    std::printf("  %-28s probe %.3f (%.2fx the originals')\n", "variants, raw", p_r, p_r / p_x);
    std::printf("  %-28s probe %.3f (%.3fx)\n", "variants, conformed", p_c, p_c / p_x);
    std::printf("  %-28s probe %.3f (%.2fx)\n", "variants, conformed+refined", p_ref, p_ref / p_x);
    std::printf("reconstruction against the original image: pixel MSE / label preservation (classifier on x %.3f)\n",
                (classify(classifier, x) == labels).to(torch::kFloat).mean().item<double>());
    std::printf("  %-28s %.4f / %.3f\n", "originals, encoder", mse_x, kept_x);
    std::printf("  %-28s %.4f / %.3f\n", "variants raw, encoder", mse_r, kept_r);
    std::printf("  %-28s %.4f / %.3f\n", "variants conformed, encoder", mse_c, kept_c);
    std::printf("  %-28s %.4f / %.3f\n", ("  + refined " + std::to_string(steps)).c_str(), mse_f, kept_f);
    std::printf("refinement (%d steps): MSE to the conformed photo %.4f -> %.4f; per image (median of %zu, one "
                "image at a time, %d threads): %.3f s wall, %.3f s CPU (the wall time on an idle machine, with "
                "one thread)\n",
                steps, own_before, own_after, seconds.size(), torch::get_num_threads(), bench::median(seconds),
                bench::median(cpu_seconds));
    if (!shots.empty()) {
      int n = std::min(12, count);
      std::vector<torch::Tensor> show;
      for (int i = 0; i < n; ++i) show.push_back(x[i]);
      for (int i = 0; i < n; ++i) show.push_back(xr[i]);
      for (int i = 0; i < n; ++i) show.push_back(xc[i]);
      auto rc = decode(*m, mu_c.narrow(0, 0, n), y.defined() ? y.narrow(0, 0, n) : y);
      for (int i = 0; i < n; ++i) show.push_back(rc[i]);
      for (int i = 0; i < n; ++i) show.push_back(rec_ref[i]);
      save_png(shots, upscale(make_grid(torch::stack(show), n), 3));
      std::printf("wrote %s: rows original, photo as raw, conformed, G(E(conformed)), refined\n", shots.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_photos: %s\n", describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
