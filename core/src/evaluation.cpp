#include "ali/evaluation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>
#include <tuple>

#include "ali/error.h"
#include "ali/text.h"
#include "ali/inpaint.h"
#include "ali/objective.h"
#include "ali/refine.h"

namespace fs = std::filesystem;

namespace ali {
namespace F = torch::nn::functional;

ClassifierImpl::ClassifierImpl(int channels_, int image_size_, int classes_)
    : channels(channels_), image_size(image_size_), classes(classes_) {
  c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 32, 3).padding(1)));
  c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
  int s = image_size / 4;
  f1 = register_module("f1", torch::nn::Linear(64 * s * s, 128));
  f2 = register_module("f2", torch::nn::Linear(128, classes));
  drop = register_module("drop", torch::nn::Dropout(0.3));
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) {
  auto h = F::max_pool2d(torch::relu(c1->forward(x)), F::MaxPool2dFuncOptions(2));
  h = F::max_pool2d(torch::relu(c2->forward(h)), F::MaxPool2dFuncOptions(2));
  return torch::relu(f1->forward(h.flatten(1)));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x) {
  return f2->forward(drop->forward(features(x)));
}

namespace {

template <typename Fn>
torch::Tensor batched(int64_t n, int64_t batch, Fn fn) {
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < n; i += batch) parts.push_back(fn(i, std::min(n, i + batch)));
  return torch::cat(parts);
}

double accuracy(const torch::Tensor& pred, const torch::Tensor& labels) {
  return pred.eq(labels).to(torch::kDouble).mean().item<double>();
}

void say(const Progress& p, const std::string& s) {
  if (p) p(s);
}

}  // namespace

torch::Tensor classify(Classifier& c, const torch::Tensor& images) {
  torch::InferenceMode guard;
  c->eval();
  return batched(images.size(0), 1000, [&](int64_t a, int64_t b) {
    return c->forward(images.slice(0, a, b)).argmax(1);
  });
}

torch::Tensor classifier_features(Classifier& c, const torch::Tensor& images) {
  torch::InferenceMode guard;
  c->eval();
  return batched(images.size(0), 1000,
                 [&](int64_t a, int64_t b) { return c->features(images.slice(0, a, b)); });
}

Classifier train_classifier(const ImageSet& train, const ImageSet& test, int epochs, uint64_t seed,
                            double* test_accuracy, const Progress& progress) {
  if (!train.labels.defined() || train.class_names.empty())
    throw Error("the classifier needs a labelled dataset");
  torch::manual_seed(seed);
  Classifier c(train.channels(), train.image_size(), int(train.class_names.size()));
  torch::optim::Adam opt(c->parameters(), torch::optim::AdamOptions(1e-3));
  const int batch = 128;
  const int64_t per_epoch = train.size() / batch;
  for (int e = 0; e < epochs; ++e) {
    c->train();
    auto perm = epoch_permutation(train.size(), seed, e);
    for (int64_t s = 0; s < per_epoch; ++s) {
      auto idx = perm.narrow(0, s * batch, batch);
      auto loss = F::cross_entropy(c->forward(train.float_images(idx)), train.labels.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    say(progress, "classifier epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs));
  }
  double acc = accuracy(classify(c, test.float_images(torch::arange(test.size()))), test.labels);
  if (test_accuracy) *test_accuracy = acc;
  return c;
}

void save_classifier(const fs::path& path, Classifier& c, double test_accuracy) {
  torch::serialize::OutputArchive a;
  c->save(a);
  a.write("shape", torch::tensor({int64_t(c->channels), int64_t(c->image_size), int64_t(c->classes)}));
  a.write("test_accuracy", torch::tensor(test_accuracy, torch::kDouble));
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp";
  a.save_to(tmp.string());
  fs::rename(tmp, path);
}

Classifier load_classifier(const fs::path& path, double* test_accuracy) {
  if (!fs::exists(path)) throw Error("classifier " + path.string() + " does not exist");
  try {
    torch::serialize::InputArchive a;
    a.load_from(path.string());
    torch::Tensor shape, acc;
    a.read("shape", shape);
    a.read("test_accuracy", acc);
    Classifier c(int(shape[0].item<int64_t>()), int(shape[1].item<int64_t>()),
                 int(shape[2].item<int64_t>()));
    c->load(a);
    c->eval();
    if (test_accuracy) *test_accuracy = acc.item<double>();
    return c;
  } catch (const c10::Error& e) {
    throw Error("classifier " + path.string() + " is unreadable (" + e.what_without_backtrace() + ")");
  }
}

fs::path default_classifier_path(const std::string& data, int channels, int image_size,
                                 const std::string& kind) {
  std::string key = fs::path(data).lexically_normal().filename().string();
  if (key.empty()) key = fs::path(data).lexically_normal().parent_path().filename().string();
  if (key.empty()) key = "data";
  return user_cache_dir() / (key + "-" + kind + "-" + std::to_string(channels) + "x" +
                                std::to_string(image_size) + ".pt");
}

fs::path ensure_default_classifier(const std::string& data_spec, const ImageSet& train, int channels,
                                   int image_size, const std::function<void(const std::string&)>& note) {
  fs::path path = default_classifier_path(data_spec, channels, image_size);
  if (!fs::exists(path)) {
    if (note) note("training the evaluation classifier as M (cached at " + path.string() + ")");
    auto test = load_dataset(data_spec, "test", image_size, channels);
    cached_classifier(path, train, test, nullptr);
  }
  return path;
}

Classifier cached_classifier(const fs::path& path, const ImageSet& train, const ImageSet& test,
                             ClassifierReport* report, const Progress& progress) {
  ClassifierReport r;
  r.path = path;
  r.epochs = 2;
  Classifier c{nullptr};
  if (fs::exists(path)) {
    c = load_classifier(path, &r.test_accuracy);
    if (c->channels != train.channels() || c->image_size != train.image_size() ||
        c->classes != int(train.class_names.size()))
      throw Error("classifier " + path.string() + " was trained on other images or classes");
    r.from_cache = true;
  } else {
    say(progress, "training the evaluation classifier (cached at " + path.string() + ")");
    c = train_classifier(train, test, r.epochs, 1234, &r.test_accuracy, progress);
    save_classifier(path, c, r.test_accuracy);
  }
  if (report) *report = r;
  return c;
}

double logistic_regression_accuracy(const torch::Tensor& train_x_in, const torch::Tensor& train_y,
                                    const torch::Tensor& test_x_in, const torch::Tensor& test_y,
                                    int classes, double l2) {
  auto train_x = train_x_in.to(torch::kDouble).flatten(1);
  auto test_x = test_x_in.to(torch::kDouble).flatten(1);
  auto mean = train_x.mean(0), std = train_x.std(0).clamp_min(1e-3);
  train_x = (train_x - mean) / std;
  test_x = (test_x - mean) / std;
  auto W = torch::zeros({train_x.size(1), classes}, torch::kDouble).requires_grad_();
  auto b = torch::zeros({classes}, torch::kDouble).requires_grad_();
  torch::optim::LBFGS opt({W, b}, torch::optim::LBFGSOptions(1).max_iter(300).line_search_fn("strong_wolfe"));
  auto closure = [&] {
    opt.zero_grad();
    auto loss = F::cross_entropy(torch::mm(train_x, W) + b, train_y) + l2 * W.pow(2).sum();
    loss.backward();
    return loss;
  };
  opt.step(closure);
  torch::NoGradGuard ng;
  return accuracy((torch::mm(test_x, W) + b).argmax(1), test_y);
}

ProbeResult linear_probe(const std::function<torch::Tensor(const torch::Tensor&)>& train_features,
                         const torch::Tensor& train_labels, const torch::Tensor& test_x,
                         const torch::Tensor& test_y, int classes, int per_class, int draws,
                         uint64_t seed) {
  ProbeResult r;
  for (int d = 0; d < draws; ++d) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 7919 * uint64_t(d));
    std::vector<torch::Tensor> rows;
    for (int c = 0; c < classes; ++c) {
      auto of_class = train_labels.eq(c).nonzero().flatten();
      if (of_class.size(0) < per_class)
        throw Error("class " + std::to_string(c) + " has fewer than " + std::to_string(per_class) +
                    " training images");
      rows.push_back(of_class.index_select(0, torch::randperm(of_class.size(0), gen).narrow(0, 0, per_class)));
    }
    auto idx = torch::cat(rows);
    r.runs.push_back(logistic_regression_accuracy(train_features(idx), train_labels.index_select(0, idx),
                                                  test_x, test_y, classes));
  }
  auto t = torch::tensor(r.runs, torch::kDouble);
  r.mean = t.mean().item<double>();
  r.std = draws > 1 ? t.std().item<double>() : 0.0;
  return r;
}

ProbeResult split_probe(const torch::Tensor& features, const torch::Tensor& labels, int classes,
                        int per_class, int draws, uint64_t seed, int* used_per_class) {
  const int64_t half = features.size(0) / 2;
  auto f_train = features.narrow(0, 0, half), y_train = labels.narrow(0, 0, half);
  const int64_t rarest = torch::bincount(y_train, {}, classes).min().item<int64_t>();
  const int used = rarest < 2 ? 0 : int(std::min<int64_t>(per_class, rarest));
  if (used_per_class) *used_per_class = used;
  if (used == 0) return {};
  return linear_probe([&](const torch::Tensor& rows) { return f_train.index_select(0, rows); }, y_train,
                      features.narrow(0, half, features.size(0) - half),
                      labels.narrow(0, half, labels.size(0) - half), classes, used, draws, seed);
}

namespace {
torch::Tensor sqrtm_psd(const torch::Tensor& s) {
  auto [w, v] = torch::linalg::eigh(s, "L");
  return torch::mm(v * w.clamp_min(0).sqrt().unsqueeze(0), v.t());
}
std::pair<torch::Tensor, torch::Tensor> moments(const torch::Tensor& x_in) {
  auto x = x_in.to(torch::kDouble).flatten(1);
  auto mu = x.mean(0);
  auto c = x - mu;
  return {mu, torch::mm(c.t(), c) / std::max<int64_t>(1, x.size(0) - 1)};
}
}  // namespace

double frechet_distance(const torch::Tensor& a, const torch::Tensor& b) {
  auto [m1, s1] = moments(a);
  auto [m2, s2] = moments(b);
  auto r1 = sqrtm_psd(s1);
  auto cross = sqrtm_psd(torch::mm(torch::mm(r1, s2), r1));
  double d = (m1 - m2).pow(2).sum().item<double>() +
             (s1.trace() + s2.trace() - 2 * cross.trace()).item<double>();
  return std::max(0.0, d);
}

PriorMatch prior_match(const torch::Tensor& z) {
  auto [mu, cov] = moments(z);
  PriorMatch p;
  const int64_t d = mu.size(0);
  p.mean_norm = mu.norm().item<double>();
  auto var = cov.diagonal();
  p.mean_variance = var.mean().item<double>();
  auto sd = var.clamp_min(1e-12).sqrt();
  auto corr = cov / torch::outer(sd, sd);
  p.mean_abs_offdiag = d > 1 ? ((corr.abs().sum() - corr.diagonal().abs().sum()) / double(d * (d - 1))).item<double>() : 0.0;
  auto logdet = torch::linalg::slogdet(cov + 1e-9 * torch::eye(d, torch::kDouble));
  p.kl = 0.5 * (cov.trace().item<double>() + mu.pow(2).sum().item<double>() - double(d) -
                std::get<1>(logdet).item<double>());
  return p;
}

namespace {
// fn(x, y) over the rows of a set in batches of 500, in eval mode; y only for conditional models.
template <typename Fn>
torch::Tensor map_batches(AliModel& m, const ImageSet& set, const torch::Tensor& rows, Fn fn) {
  torch::InferenceMode guard;
  m.train(false);
  auto dev = m.device();
  return batched(rows.size(0), 500, [&](int64_t a, int64_t b) {
    auto idx = rows.slice(0, a, b);
    torch::Tensor y;
    if (m.config.conditional()) y = set.attributes.index_select(0, idx).to(dev);
    return fn(set.float_images(idx).to(dev), y).cpu();
  });
}
}  // namespace

torch::Tensor encode_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows, bool sample) {
  return map_batches(m, set, rows, [&](const torch::Tensor& x, const torch::Tensor& y) {
    return m.encoder->sample(m.encoder->forward(x, y), !sample || m.config.bigan);
  });
}

torch::Tensor encode_layers_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows, int hidden) {
  return map_batches(m, set, rows, [&](const torch::Tensor& x, const torch::Tensor& y) {
    return m.encoder->layer_features(x, y, hidden);
  });
}

torch::Tensor reconstruct_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows) {
  return map_batches(m, set, rows, [&](const torch::Tensor& x, const torch::Tensor& y) {
    return m.decoder->forward(m.encoder->forward(x, y).mu, y);
  });
}

namespace {
const char* const kRefinedWhat =
    "the first `images` test images reconstructed from codes refined `steps` steps from E's mu on "
    "pixels alone (what the explorer's Refine and --refine do, without the feature term: the "
    "evaluation classifier's features would make this preservation circular), beside the encoder's "
    "own reconstructions of the same images";
}  // namespace

torch::Tensor refined_codes(AliModel& m, const ImageSet& set, const torch::Tensor& rows, int steps,
                            double* seconds) {
  RefineOptions ro;
  ro.steps = steps;
  ro.feature_weight = 0;
  m.train(false);
  const auto dev = m.device();
  return batched(rows.size(0), 500, [&](int64_t a, int64_t b) {
    auto idx = rows.slice(0, a, b);
    auto x = set.float_images(idx).to(dev);
    torch::Tensor y;
    if (m.config.conditional()) y = set.attributes.index_select(0, idx).to(dev);
    torch::Tensor mu;
    {
      torch::NoGradGuard ng;
      mu = m.encoder->forward(x, y).mu;
    }
    auto r = refine_codes(m, x, mu, y, ro);
    if (seconds) *seconds += r.seconds;
    return r.z;
  });
}

namespace {
// G(z, y) for codes of the rows (y: their attributes, for a conditional model).
torch::Tensor decode_rows(AliModel& m, const ImageSet& set, const torch::Tensor& rows, const torch::Tensor& z) {
  return batched(rows.size(0), 500, [&](int64_t a, int64_t b) {
    torch::Tensor y;
    if (m.config.conditional()) y = set.attributes.index_select(0, rows.slice(0, a, b));
    return decode(m, z.slice(0, a, b), y);
  });
}
}  // namespace

torch::Tensor refined_reconstructions(AliModel& m, const ImageSet& set, const torch::Tensor& rows,
                                      int steps, double* seconds) {
  return decode_rows(m, set, rows, refined_codes(m, set, rows, steps, seconds));
}

namespace {
// Pixel MSE of x against rec, and the baseline: x against a random permutation of itself.
std::pair<double, double> pixel_mse_and_random_pairs(const torch::Tensor& x, const torch::Tensor& rec,
                                                     uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 99);
  auto perm = torch::randperm(x.size(0), gen);
  return {(x - rec).pow(2).mean().item<double>(), (x - x.index_select(0, perm)).pow(2).mean().item<double>()};
}
}  // namespace

ReconstructionFigures reconstruction_figures(const torch::Tensor& x, const torch::Tensor& rec,
                                             const torch::Tensor& labels, Classifier& classifier,
                                             uint64_t seed) {
  ReconstructionFigures f;
  std::tie(f.pixel_mse, f.random_pairs_mse) = pixel_mse_and_random_pairs(x, rec, seed);
  f.label_preservation = accuracy(classify(classifier, rec), labels);
  f.classifier_accuracy = accuracy(classify(classifier, x), labels);
  return f;
}

namespace {
torch::Tensor generate(AliModel& m, int64_t n, uint64_t seed, const torch::Tensor& classes) {
  torch::InferenceMode guard;
  m.train(false);
  auto z = seeded_normal(n, m.config.nlat, seed);
  return batched(n, 500, [&](int64_t a, int64_t b) {
    torch::Tensor y;
    if (classes.defined())
      y = torch::one_hot(classes.slice(0, a, b), int64_t(m.config.attributes.size())).to(torch::kFloat);
    return decode(m, z.slice(0, a, b), y);
  });
}
}  // namespace

namespace {
// What every report says of its model.
nlohmann::json model_figures(const ModelConfig& c) {
  return {{"arch", c.arch},       {"nlat", c.nlat},
          {"bigan", c.bigan},     {"conditional", c.conditional()},
          {"dataset", c.dataset}, {"objective", c.objective}};
}

// `--refine-steps`: the first refine_limit rows (x, the encoder's reconstructions rec) reconstructed
// from refined codes beside the encoder's own; with `preservation(images, k)` (of the first k rows),
// that figure of both as `kind`_preservation and encoder_`kind`_preservation; `codes` (optional):
// the refined codes.
nlohmann::json refined_figures(AliModel& m, const ImageSet& set, const torch::Tensor& rows,
                               const torch::Tensor& x, const torch::Tensor& rec, const EvalOptions& o,
                               const Progress& progress, const std::string& kind = {},
                               const std::function<double(const torch::Tensor&, int64_t)>& preservation = {},
                               torch::Tensor* codes = nullptr) {
  say(progress, "reconstructions from refined codes (" + std::to_string(o.refine_steps) + " steps)");
  const int64_t k = std::min<int64_t>(o.refine_limit, rows.size(0));
  double seconds = 0;
  auto z = refined_codes(m, set, rows.narrow(0, 0, k), o.refine_steps, &seconds);
  if (codes) *codes = z;
  auto refined = decode_rows(m, set, rows.narrow(0, 0, k), z);
  auto xk = x.narrow(0, 0, k), enc = rec.narrow(0, 0, k);
  nlohmann::json j = {{"steps", o.refine_steps},
                      {"images", k},
                      {"pixel_mse", (refined - xk).pow(2).mean().item<double>()},
                      {"encoder_pixel_mse", (enc - xk).pow(2).mean().item<double>()},
                      {"seconds_per_image", seconds / double(std::max<int64_t>(1, k))},
                      {"what", kRefinedWhat}};
  if (preservation) {
    j[kind + "_preservation"] = preservation(refined, k);
    j["encoder_" + kind + "_preservation"] = preservation(enc, k);
  }
  return j;
}

// E(x)'s sampled codes of the rows against the prior, beside prior samples of the same count (with a
// note when there are no more codes than dimensions: a singular fit, whose KL says little).
nlohmann::json prior_match_figures(AliModel& m, const ImageSet& set, const torch::Tensor& rows,
                                   uint64_t seed) {
  auto pm = prior_match(encode_all(m, set, rows, true));
  auto ref = prior_match(seeded_normal(rows.size(0), m.config.nlat, seed + 3));
  nlohmann::json j = {{"mean_norm", pm.mean_norm},
                      {"mean_variance", pm.mean_variance},
                      {"mean_abs_offdiag_corr", pm.mean_abs_offdiag},
                      {"kl_to_prior", pm.kl},
                      {"baseline_prior_samples",
                       {{"mean_norm", ref.mean_norm},
                        {"mean_variance", ref.mean_variance},
                        {"mean_abs_offdiag_corr", ref.mean_abs_offdiag},
                        {"kl_to_prior", ref.kl}}}};
  if (rows.size(0) <= m.config.nlat)
    j["note"] = std::to_string(rows.size(0)) + " codes in " + std::to_string(m.config.nlat) +
                " dimensions: the fit's covariance is singular, so the KL is large here and for the "
                "prior samples alike; compare the two, or evaluate more images";
  return j;
}

// Inpainting (what gali-mix trains for; any model can do it): one random rectangle per test image,
// sized as gali-mix's masks (each side in [S/8, S/2]), seeded; the MSE inside the holes of
// inpaint_masked's fill against the image, beside filling the holes with the mean
// training image.
nlohmann::json inpainting_figures(AliModel& m, const ImageSet& train, const ImageSet& test,
                                  const torch::Tensor& rows, const torch::Tensor& x_all,
                                  uint64_t seed) {
  torch::InferenceMode guard;
  m.train(false);
  const int64_t n = rows.size(0), size = m.config.image_size;
  const int64_t lo = std::max<int64_t>(1, size / 8), hi = std::max(lo, size / 2);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 31);
  auto w = torch::randint(lo, hi + 1, {n}, gen, torch::kLong);
  auto h = torch::randint(lo, hi + 1, {n}, gen, torch::kLong);
  auto corner = [&](const torch::Tensor& side) {
    return (torch::rand({n}, gen, torch::kDouble) * (size - side + 1).to(torch::kDouble))
        .floor()
        .to(torch::kLong);
  };
  auto x0 = corner(w), y0 = corner(h);
  auto mask = rectangle_mask(torch::stack({x0, y0, w, h}, 1), size, size);
  auto mean_image =
      train.float_images(torch::arange(std::min<int64_t>(train.size(), 10000), torch::kLong))
          .mean(0, true);
  const auto dev = m.device();
  double err = 0, err_mean = 0;
  for (int64_t a = 0; a < n; a += 500) {
    const int64_t b = std::min(n, a + 500);
    auto x = x_all.slice(0, a, b), mk = mask.slice(0, a, b);
    torch::Tensor y;
    if (m.config.conditional()) y = test.attributes.index_select(0, rows.slice(0, a, b)).to(dev);
    InpaintOptions io;
    io.seed = seed + uint64_t(a);
    auto f = inpaint_masked(m, x, mk, y, io).to(torch::kFloat);
    err += ((f - x).pow(2) * mk).sum().item<double>();
    err_mean += ((mean_image - x).pow(2) * mk).sum().item<double>();
  }
  const double pixels = mask.sum().item<double>() * double(x_all.size(1));
  return {{"hole_mse", err / pixels},
          {"baseline_mean_image_mse", err_mean / pixels},
          {"holes", "one per test image, each side in [S/8, S/2], seeded"},
          {"method", inpainting_method(m.config)}};
}
}  // namespace

namespace {
// "A, B, C, ... (40)": enough of a list to tell two apart.
std::string first_names(const std::vector<std::string>& names) {
  if (names.size() <= 4) return names.empty() ? "none" : joined(names);
  return joined({names[0], names[1], names[2]}) + ", ... (" + std::to_string(names.size()) + ")";
}
}  // namespace

namespace {
// How linearly the decoder's latent space separates the classes it draws (an unconditional model):
// prior codes labelled by the classifier's reading of G(z), probed as split_probe does; beside them
// the same probe on E(G(z))'s mu and on G(z)'s pixels, and a probe given every code of the first
// half. An encoder that inverted G exactly would give mu the probe on z.
nlohmann::json latent_probe_figures(AliModel& m, Classifier& classifier, int classes, const EvalOptions& o) {
  const int64_t n = std::max<int64_t>(4, o.fd_samples);
  auto z = seeded_normal(n, m.config.nlat, o.seed + 41);
  auto images = batched(n, 500, [&](int64_t a, int64_t b) { return decode(m, z.slice(0, a, b)); });
  auto labels = classify(classifier, images).clone();  // a normal tensor: the probes' autograd saves it
  auto mu = [&] {
    torch::InferenceMode guard;
    return batched(n, 500, [&](int64_t a, int64_t b) {
      return m.encoder->forward(images.slice(0, a, b).to(m.device())).mu.cpu();
    });
  }();
  int used = 0;
  auto on_z = split_probe(z, labels, classes, o.probe_per_class, o.probe_draws, o.seed, &used);
  auto shares = torch::bincount(labels, {}, classes).to(torch::kDouble) / double(n);
  nlohmann::json j = {
      {"what", "how linearly the decoder's latent space separates the classes it draws: prior codes z, each "
               "labelled by the evaluation classifier's reading of G(z); the first half trains the probes, "
               "the second tests them. An encoder that inverted G exactly would give mu the probe on z"},
      {"codes", n},
      {"labels_per_class", used},
      {"draws", o.probe_draws},
      {"smallest_class_share", shares.min().item<double>()}};
  if (used == 0) {
    j["skipped"] = "some class is drawn fewer than twice in the first half's samples";
    return j;
  }
  const int64_t half = n / 2;
  j["accuracy_mean"] = on_z.mean;
  j["accuracy_std"] = on_z.std;
  j["accuracy_all_labels"] = logistic_regression_accuracy(
      z.narrow(0, 0, half), labels.narrow(0, 0, half), z.narrow(0, half, n - half),
      labels.narrow(0, half, n - half), classes);
  j["encoder_mu_on_samples_mean"] =
      split_probe(mu, labels, classes, used, o.probe_draws, o.seed, nullptr).mean;
  j["baseline_sample_pixels_mean"] =
      split_probe(images.flatten(1), labels, classes, used, o.probe_draws, o.seed, nullptr).mean;
  return j;
}
}  // namespace

void check_model_takes_classes(const ModelConfig& c, const ImageSet& train) {
  if (c.conditional() && c.attributes != train.class_names)
    throw Error("this conditional model's attributes (" + first_names(c.attributes) + ") are not the dataset's classes (" +
                first_names(train.class_names) + ")");
}

nlohmann::json evaluate_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                              Classifier& classifier, const ClassifierReport& cr,
                              const EvalOptions& o, const Progress& progress) {
  auto t0 = std::chrono::steady_clock::now();
  if (!train.labels.defined() || !test.labels.defined())
    throw Error("evaluation needs a labelled dataset");
  const int classes = int(train.class_names.size());
  const ModelConfig& c = m.config;
  ImageSet tr = train, te = test;
  check_model_takes_classes(c, train);
  if (c.conditional()) {
    tr = with_class_attributes(tr);
    te = with_class_attributes(te);
  }
  int64_t n_test = o.test_limit > 0 ? std::min(o.test_limit, te.size()) : te.size();
  auto test_rows = torch::arange(n_test, torch::kLong);
  auto test_y = te.labels.narrow(0, 0, n_test);
  auto test_x = te.float_images(test_rows);

  nlohmann::json j;
  j["model"] = model_figures(c);
  j["test_images"] = n_test;
  j["classifier"] = {{"test_accuracy", cr.test_accuracy}, {"path", cr.path.string()},
                     {"from_cache", cr.from_cache}};

  // The probes must not be handed the label: a conditional encoder takes y, and y enters mu through
  // its linear head, so mu(x, true y) is linearly separable by class whatever the encoder sees in x
  // (an untrained one probes at 1.0). The probes encode with a zero row instead; y enters mu only
  // through that linear head, so any fixed row gives the same standardised features: mu's part
  // that comes from x.
  ImageSet ptr = tr, pte = te;
  if (c.conditional()) {
    ptr.attributes = torch::zeros_like(tr.attributes);
    pte.attributes = torch::zeros_like(te.attributes);
  }
  say(progress, "linear probe on the encoder's mu");
  auto test_mu = encode_all(m, pte, test_rows, false);
  auto probe = linear_probe([&](const torch::Tensor& rows) { return encode_all(m, ptr, rows, false); },
                            tr.labels, test_mu, test_y, classes, o.probe_per_class, o.probe_draws, o.seed);
  say(progress, "linear probe on raw pixels (baseline)");
  auto pixels = linear_probe([&](const torch::Tensor& rows) { return tr.float_images(rows); }, tr.labels,
                             test_x, test_y, classes, o.probe_per_class, o.probe_draws, o.seed);
  j["linear_probe"] = {{"features", c.conditional() ? "encoder mu, the class not given (a zero row)" : "encoder mu"},
                       {"labels_per_class", o.probe_per_class},
                       {"draws", o.probe_draws},
                       {"accuracy_mean", probe.mean},
                       {"accuracy_std", probe.std},
                       {"runs", probe.runs},
                       {"baseline_raw_pixels_mean", pixels.mean},
                       {"baseline_raw_pixels_std", pixels.std}};

  // The paper's protocol (its SVHN SVM): the encoder's last three hidden layers and mu, with the
  // same labels and draws; the baseline is the same protocol on an untrained encoder of the same
  // architecture (random convolutional features are a strong baseline on their own).
  say(progress, "linear probe on the encoder's last hidden layers and mu");
  auto layer_probe = [&](AliModel& model) {
    return linear_probe([&](const torch::Tensor& rows) { return encode_layers_all(model, ptr, rows); }, tr.labels,
                        encode_layers_all(model, pte, test_rows), test_y, classes, o.probe_per_class,
                        o.probe_draws, o.seed);
  };
  auto layers = layer_probe(m);
  torch::manual_seed(o.seed + 31);
  AliModel untrained(c);
  untrained.to(m.device());
  auto layers_untrained = layer_probe(untrained);
  j["linear_probe_layers"] = {{"features", "encoder's last 3 hidden layers and mu (the paper's SVM protocol)"},
                              {"dimensions", encode_layers_all(m, pte, test_rows.narrow(0, 0, 1)).size(1)},
                              {"labels_per_class", o.probe_per_class},
                              {"draws", o.probe_draws},
                              {"accuracy_mean", layers.mean},
                              {"accuracy_std", layers.std},
                              {"runs", layers.runs},
                              {"baseline_untrained_encoder_mean", layers_untrained.mean},
                              {"baseline_untrained_encoder_std", layers_untrained.std}};

  if (!c.conditional()) {  // a conditional decoder's z carries no class: the class comes in y
    say(progress, "linear probe on the decoder's latent space");
    j["latent_probe"] = latent_probe_figures(m, classifier, classes, o);
  }

  say(progress, "reconstructions");
  auto rec = reconstruct_all(m, te, test_rows);
  auto rf = reconstruction_figures(test_x, rec, test_y, classifier, o.seed);
  j["reconstruction"] = {{"pixel_mse", rf.pixel_mse},
                         {"baseline_random_pairs_mse", rf.random_pairs_mse},
                         {"label_preservation", rf.label_preservation},
                         {"classifier_accuracy_on_inputs", rf.classifier_accuracy}};
  torch::Tensor refined_test;
  if (o.refine_steps > 0)
    j["reconstruction_refined"] = refined_figures(
        m, te, test_rows, test_x, rec, o, progress, "label",
        [&](const torch::Tensor& images, int64_t k) {
          return accuracy(classify(classifier, images), test_y.narrow(0, 0, k));
        },
        &refined_test);
  if (o.refine_steps > 0 && !c.conditional()) {
    // Does a closer inversion carry more of the class? One draw of labelled training rows, refined
    // as the test images are, against mu of the same rows and images.
    say(progress, "linear probe on refined codes");
    auto& rr = j["reconstruction_refined"];
    const int64_t k = refined_test.size(0);
    auto yk = test_y.narrow(0, 0, k);
    rr["linear_probe_refined_codes"] =
        linear_probe([&](const torch::Tensor& rows) { return refined_codes(m, tr, rows, o.refine_steps); },
                     tr.labels, refined_test, yk, classes, o.probe_per_class, 1, o.seed)
            .mean;
    rr["linear_probe_encoder_mu"] =
        linear_probe([&](const torch::Tensor& rows) { return encode_all(m, tr, rows, false); }, tr.labels,
                     test_mu.narrow(0, 0, k), yk, classes, o.probe_per_class, 1, o.seed)
            .mean;
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 99);

  say(progress, "inpainting");
  j["inpainting"] = inpainting_figures(m, tr, te, test_rows, test_x, o.seed);

  say(progress, "samples and Frechet distance");
  torch::Tensor sample_classes;
  if (c.conditional()) sample_classes = torch::arange(o.fd_samples, torch::kLong).remainder(classes);
  auto samples = generate(m, o.fd_samples, o.seed + 5, sample_classes);
  auto real_feats = classifier_features(classifier, test_x);
  auto train_rows = torch::randperm(tr.size(), gen).narrow(0, 0, std::min<int64_t>(n_test, tr.size()));
  j["sample_quality"] = {
      {"frechet_distance", frechet_distance(classifier_features(classifier, samples), real_feats)},
      {"baseline_train_vs_test", frechet_distance(classifier_features(classifier, tr.float_images(train_rows)), real_feats)},
      {"samples", o.fd_samples},
      {"feature_space", "evaluation classifier, penultimate layer (128-d)"}};

  if (c.conditional()) {
    say(progress, "conditional fidelity");
    auto cls = torch::arange(int64_t(o.fidelity_per_class) * classes, torch::kLong).remainder(classes);
    auto pred = classify(classifier, generate(m, cls.size(0), o.seed + 17, cls));
    std::vector<double> per;
    for (int k = 0; k < classes; ++k) {
      auto mask = cls.eq(k);
      per.push_back(accuracy(pred.masked_select(mask), cls.masked_select(mask)));
    }
    j["conditional_fidelity"] = {{"mean", accuracy(pred, cls)},
                                 {"per_class", per},
                                 {"class_names", train.class_names},
                                 {"samples_per_class", o.fidelity_per_class},
                                 {"baseline_chance", 1.0 / classes}};
    if (c.reads_attributes()) {
      say(progress, "the classes D reads in the test images");
      auto read = read_attributes(m, test_x).argmax(1);
      j["class_reading"] = {{"accuracy", accuracy(read, test_y)},
                            {"baseline_evaluation_classifier", cr.test_accuracy},
                            {"what", "D's auxiliary classifier on the test images: the class a dropped "
                                     "image is encoded with (read_attributes)"}};
    }
  }

  say(progress, "prior match");
  j["prior_match"] = prior_match_figures(m, te, test_rows, o.seed);
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}

nlohmann::json evaluate_unlabelled_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                                         const EvalOptions& o, const Progress& progress) {
  auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m.config;
  if (c.conditional())
    throw Error("a conditional model is evaluated on data with its labels or attributes; " +
                test.name + " has none");
  if (test.size() < 2) throw Error("evaluation needs at least 2 images; " + test.name + " has " +
                                   std::to_string(test.size()));
  const int64_t n = o.test_limit > 0 ? std::min(o.test_limit, test.size()) : test.size();
  auto rows = torch::arange(n, torch::kLong);
  auto x = test.float_images(rows);
  nlohmann::json j;
  j["model"] = model_figures(c);
  j["test_images"] = n;
  j["unlabelled"] = true;
  // A plain image folder loads as the same images for either split.
  j["no_test_split"] = train.images.defined() && test.images.defined() &&
                       train.images.sizes() == test.images.sizes() &&
                       torch::equal(train.images, test.images);

  say(progress, "reconstructions");
  auto rec = reconstruct_all(m, test, rows);
  auto [mse, pairs_mse] = pixel_mse_and_random_pairs(x, rec, o.seed);
  j["reconstruction"] = {{"pixel_mse", mse}, {"baseline_random_pairs_mse", pairs_mse}};
  if (o.refine_steps > 0) j["reconstruction_refined"] = refined_figures(m, test, rows, x, rec, o, progress);

  say(progress, "inpainting");
  j["inpainting"] = inpainting_figures(m, train, test, rows, x, o.seed);

  say(progress, "samples and Frechet distance (pixels pooled to 8x8)");
  auto pooled = [](const torch::Tensor& images) {
    return torch::adaptive_avg_pool2d(images, {8, 8}).flatten(1).to(torch::kDouble);
  };
  auto samples = generate(m, n, o.seed + 5, {});
  auto real = pooled(x);
  const int64_t half = n / 2;
  j["sample_quality"] = {
      {"frechet_distance", frechet_distance(pooled(samples), real)},
      {"baseline_half_vs_half", frechet_distance(real.narrow(0, 0, half), real.narrow(0, half, n - half))},
      {"samples", samples.size(0)},
      {"feature_space", "pixels, average-pooled to 8x8 per channel (no labels to train a classifier on)"}};

  say(progress, "prior match");
  j["prior_match"] = prior_match_figures(m, test, rows, o.seed);
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}


// ---------------------------------------------------------------------------------------------
// Multi-label attributes

namespace {
constexpr double kMinAttributeRate = 0.02;

torch::Tensor attribute_logits(AttributeClassifier& c, const torch::Tensor& images) {
  torch::InferenceMode guard;
  c.net->eval();
  return batched(images.size(0), 500, [&](int64_t a, int64_t b) { return c.net->forward(images.slice(0, a, b)); });
}

torch::Tensor column_index(const std::vector<int>& cols) {
  return torch::tensor(std::vector<int64_t>(cols.begin(), cols.end()), torch::kLong);
}

std::vector<double> per_column_accuracy(const torch::Tensor& prob, const torch::Tensor& truth) {
  auto acc = prob.gt(0.5).eq(truth.gt(0.5)).to(torch::kDouble).mean(0);
  return std::vector<double>(acc.data_ptr<double>(), acc.data_ptr<double>() + acc.numel());
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}
}  // namespace

AttributeClassifier train_attribute_classifier(const ImageSet& train, const ImageSet& test, int epochs,
                                               uint64_t seed, const Progress& progress) {
  if (!train.attributes.defined() || !test.attributes.defined())
    throw Error("the attribute classifier needs a dataset with attributes (CelebA layout)");
  AttributeClassifier c;
  auto rate = train.attributes.mean(0);
  for (int k = 0; k < int(train.attribute_names.size()); ++k) {
    double r = rate[k].item<double>();
    if (r >= kMinAttributeRate && r <= 1 - kMinAttributeRate) {
      c.columns.push_back(k);
      c.names.push_back(train.attribute_names[k]);
    }
  }
  if (c.columns.empty()) throw Error("no attribute varies in the training data");
  auto cols = column_index(c.columns);
  torch::manual_seed(seed);
  c.net = Classifier(train.channels(), train.image_size(), int(c.columns.size()));
  torch::optim::Adam opt(c.net->parameters(), torch::optim::AdamOptions(1e-3));
  const int batch = 64;
  const int64_t per_epoch = std::max<int64_t>(1, train.size() / batch);
  for (int e = 0; e < epochs; ++e) {
    c.net->train();
    auto perm = epoch_permutation(train.size(), seed, e);
    for (int64_t s = 0; s < per_epoch; ++s) {
      auto idx = perm.narrow(0, s * batch, std::min<int64_t>(batch, train.size() - s * batch));
      auto target = train.attributes.index_select(0, idx).index_select(1, cols);
      auto loss = F::binary_cross_entropy_with_logits(c.net->forward(train.float_images(idx)), target);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    say(progress, "attribute classifier epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs));
  }
  auto prob = attribute_probabilities(c, test.float_images(torch::arange(test.size())));
  c.test_accuracy = per_column_accuracy(prob, test.attributes.index_select(1, cols));
  return c;
}

torch::Tensor attribute_probabilities(AttributeClassifier& c, const torch::Tensor& images) {
  return torch::sigmoid(attribute_logits(c, images));
}

void save_attribute_classifier(const fs::path& path, AttributeClassifier& c) {
  torch::serialize::OutputArchive a;
  c.net->save(a);
  a.write("shape", torch::tensor({int64_t(c.net->channels), int64_t(c.net->image_size), int64_t(c.net->classes)}));
  a.write("columns", column_index(c.columns));
  a.write("attribute_accuracy", torch::tensor(c.test_accuracy, torch::kDouble));
  std::string names;
  for (const auto& n : c.names) names += n + "\n";
  a.write("names", torch::tensor(std::vector<int64_t>(names.begin(), names.end()), torch::kLong));
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp";
  a.save_to(tmp.string());
  fs::rename(tmp, path);
}

AttributeClassifier load_attribute_classifier(const fs::path& path) {
  if (!fs::exists(path)) throw Error("attribute classifier " + path.string() + " does not exist");
  try {
    torch::serialize::InputArchive a;
    a.load_from(path.string());
    torch::Tensor shape, cols, acc, names;
    a.read("shape", shape);
    a.read("columns", cols);
    a.read("attribute_accuracy", acc);
    a.read("names", names);
    AttributeClassifier c;
    c.net = Classifier(int(shape[0].item<int64_t>()), int(shape[1].item<int64_t>()), int(shape[2].item<int64_t>()));
    c.net->load(a);
    c.net->eval();
    for (int64_t i = 0; i < cols.numel(); ++i) c.columns.push_back(int(cols[i].item<int64_t>()));
    for (int64_t i = 0; i < acc.numel(); ++i) c.test_accuracy.push_back(acc[i].item<double>());
    std::string text;
    for (int64_t i = 0; i < names.numel(); ++i) text += char(names[i].item<int64_t>());
    c.names = split_list(text, '\n');
    if (c.names.size() != c.columns.size() || int(c.columns.size()) != c.net->classes)
      throw Error("attribute classifier " + path.string() + " is inconsistent");
    return c;
  } catch (const c10::Error& e) {
    throw Error("attribute classifier " + path.string() + " is unreadable (" + e.what_without_backtrace() + ")");
  }
}

AttributeClassifier cached_attribute_classifier(const fs::path& path, const ImageSet& train,
                                                const ImageSet& test, bool* from_cache,
                                                const Progress& progress) {
  if (fs::exists(path)) {
    auto c = load_attribute_classifier(path);
    bool fits = c.net->channels == train.channels() && c.net->image_size == train.image_size();
    for (size_t i = 0; fits && i < c.columns.size(); ++i)
      fits = c.columns[i] < int(train.attribute_names.size()) && train.attribute_names[c.columns[i]] == c.names[i];
    if (!fits) throw Error("attribute classifier " + path.string() + " was trained on other images or attributes");
    if (from_cache) *from_cache = true;
    return c;
  }
  say(progress, "training the attribute classifier (cached at " + path.string() + ")");
  auto c = train_attribute_classifier(train, test, 4, 1234, progress);
  save_attribute_classifier(path, c);
  if (from_cache) *from_cache = false;
  return c;
}

std::vector<AttributeFidelity> attribute_fidelity(AliModel& m, AttributeClassifier& c,
                                                  const torch::Tensor& base, uint64_t seed) {
  const auto& names = m.config.attributes;
  if (!m.config.conditional()) throw Error("attribute fidelity needs a conditional model");
  if (base.dim() != 2 || base.size(1) != int64_t(names.size()))
    throw Error("attribute rows do not match the model's " + std::to_string(names.size()) + " attributes");
  torch::InferenceMode guard;
  m.train(false);
  auto z = seeded_normal(base.size(0), m.config.nlat, seed);
  auto images_for = [&](const std::string& name, bool on) {
    auto y = base.to(torch::kFloat).clone();
    request_attribute(m.config, y, name, on);
    return batched(z.size(0), 250, [&](int64_t a, int64_t b) { return decode(m, z.slice(0, a, b), y.slice(0, a, b)); });
  };
  std::vector<AttributeFidelity> out;
  for (size_t i = 0; i < c.names.size(); ++i) {
    if (std::find(names.begin(), names.end(), c.names[i]) == names.end())
      throw Error("the model has no attribute '" + c.names[i] + "' that the classifier checks");
    AttributeFidelity f;
    f.name = c.names[i];
    f.on = attribute_probabilities(c, images_for(f.name, true)).select(1, int64_t(i)).gt(0.5).to(torch::kDouble).mean().item<double>();
    f.off = attribute_probabilities(c, images_for(f.name, false)).select(1, int64_t(i)).le(0.5).to(torch::kDouble).mean().item<double>();
    out.push_back(f);
  }
  return out;
}

std::vector<RealReading> real_reading_of_requests(const std::vector<std::string>& names,
                                                  const AttributeClassifier& c, const torch::Tensor& base,
                                                  const torch::Tensor& real_rows,
                                                  const torch::Tensor& real_probs, bool classes) {
  const int64_t k = int64_t(names.size());
  if (base.dim() != 2 || base.size(1) != k || real_rows.dim() != 2 || real_rows.size(1) != k)
    throw Error("attribute rows do not match the model's " + std::to_string(k) + " attributes");
  if (real_probs.dim() != 2 || real_probs.size(0) != real_rows.size(0) ||
      real_probs.size(1) != int64_t(c.names.size()))
    throw Error("the classifier's readings do not match the real rows");
  // Rows as text keys ('0'/'1' per attribute); per key, how many real images and how many the
  // classifier reads on, per evaluated attribute.
  auto keys_of = [&](const torch::Tensor& rows) {
    auto b = rows.gt(0.5).to(torch::kCPU).contiguous();
    auto acc = b.accessor<bool, 2>();
    std::vector<std::string> keys(size_t(b.size(0)), std::string(size_t(k), '0'));
    for (int64_t i = 0; i < b.size(0); ++i)
      for (int64_t j = 0; j < k; ++j)
        if (acc[i][j]) keys[size_t(i)][size_t(j)] = '1';
    return keys;
  };
  const auto real_keys = keys_of(real_rows);
  auto read_on = real_probs.gt(0.5).to(torch::kDouble).to(torch::kCPU).contiguous();
  auto on_acc = read_on.accessor<double, 2>();
  std::map<std::string, std::pair<int64_t, std::vector<double>>> groups;
  for (size_t i = 0; i < real_keys.size(); ++i) {
    auto& g = groups[real_keys[i]];
    if (g.second.empty()) g.second.assign(c.names.size(), 0.0);
    ++g.first;
    for (size_t a = 0; a < c.names.size(); ++a) g.second[a] += on_acc[int64_t(i)][int64_t(a)];
  }
  std::vector<RealReading> out;
  for (size_t a = 0; a < c.names.size(); ++a) {
    RealReading r;
    r.name = c.names[a];
    for (bool on : {true, false}) {
      auto y = base.to(torch::kFloat).clone();
      request_attribute(names, classes, y, r.name, on);
      double sum = 0;
      int64_t matched = 0;
      for (const auto& key : keys_of(y)) {
        auto it = groups.find(key);
        if (it == groups.end()) continue;
        const double on_rate = it->second.second[a] / double(it->second.first);
        sum += on ? on_rate : 1.0 - on_rate;
        ++matched;
      }
      const double reading = matched ? sum / double(matched) : std::nan("");
      const double share = base.size(0) ? double(matched) / double(base.size(0)) : 0.0;
      (on ? r.on : r.off) = reading;
      (on ? r.on_matched : r.off_matched) = share;
    }
    out.push_back(r);
  }
  return out;
}

nlohmann::json evaluate_attribute_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                                        AttributeClassifier& clf, bool classifier_from_cache,
                                        const EvalOptions& o, const Progress& progress) {
  auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m.config;
  if (!c.conditional() || c.attributes != test.attribute_names)
    throw Error("this model was not trained on these attributes (a conditional model on the same layout is needed)");
  int64_t n = o.test_limit > 0 ? std::min(o.test_limit, test.size()) : test.size();
  auto rows = torch::arange(n, torch::kLong);
  auto x = test.float_images(rows);
  auto y = test.attributes.narrow(0, 0, n);
  auto cols = column_index(clf.columns);
  nlohmann::json j;
  j["model"] = {{"arch", c.arch}, {"nlat", c.nlat}, {"bigan", c.bigan}, {"conditional", true}, {"dataset", c.dataset}};
  j["test_images"] = n;

  say(progress, "attribute fidelity (" + std::to_string(clf.names.size()) + " attributes, on and off)");
  auto fid = attribute_fidelity(m, clf, y, o.seed + 17);
  // The same requests, read by the classifier on the real test images that carry them.
  auto as_asked = real_reading_of_requests(c.attributes, clf, y, test.attributes,
                                       attribute_probabilities(clf, test.float_images(torch::arange(test.size()))),
                                       c.attributes_are_classes());
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json per = nlohmann::json::array();
  std::vector<double> fids;
  for (size_t i = 0; i < fid.size(); ++i) {
    per.push_back({{"name", fid[i].name}, {"on", fid[i].on}, {"off", fid[i].off}, {"fidelity", fid[i].fidelity()},
                   {"classifier_accuracy", clf.test_accuracy[i]},
                   {"real_images_as_asked",
                    {{"on", number(as_asked[i].on)}, {"off", number(as_asked[i].off)},
                     {"on_rows_matched", as_asked[i].on_matched}, {"off_rows_matched", as_asked[i].off_matched}}}});
    fids.push_back(fid[i].fidelity());
  }
  j["attribute_fidelity"] = {{"mean", mean_of(fids)}, {"per_attribute", per}, {"samples_per_request", n},
                             {"baseline_chance", 0.5}};
  j["classifier"] = {{"mean_accuracy", mean_of(clf.test_accuracy)}, {"from_cache", classifier_from_cache}};

  if (c.reads_attributes()) {
    say(progress, "the attributes D reads in the test faces");
    auto read = read_attributes(m, x);
    auto right = read.index_select(1, cols).eq(y.index_select(1, cols).to(torch::kFloat));
    nlohmann::json per_read = nlohmann::json::object();
    std::vector<double> accs;
    for (size_t i = 0; i < clf.names.size(); ++i) {
      accs.push_back(right.select(1, int64_t(i)).to(torch::kDouble).mean().item<double>());
      per_read[clf.names[i]] = accs.back();
    }
    auto from_reading = batched(n, 250, [&](int64_t a, int64_t b) {
      return reconstruct(m, x.slice(0, a, b), read.slice(0, a, b));
    });
    j["attribute_reading"] = {
        {"mean_accuracy", mean_of(accs)},
        {"per_attribute", per_read},
        {"rows_exactly_right", right.all(1).to(torch::kDouble).mean().item<double>()},
        {"reconstruction_pixel_mse_from_reading", (from_reading - x).pow(2).mean().item<double>()},
        {"what", "D's auxiliary classifier on the test images, over the evaluated attributes: what a "
                 "dropped face is encoded with (read_attributes); its reconstruction G(E(x, read), read)"}};
  }

  say(progress, "reconstructions");
  auto rec = reconstruct_all(m, test, rows);
  auto [mse, pairs_mse] = pixel_mse_and_random_pairs(x, rec, o.seed);
  auto kept = per_column_accuracy(attribute_probabilities(clf, rec), y.index_select(1, cols));
  j["reconstruction"] = {{"pixel_mse", mse},
                         {"baseline_random_pairs_mse", pairs_mse},
                         {"attribute_preservation", mean_of(kept)},
                         {"classifier_accuracy_on_inputs", mean_of(clf.test_accuracy)}};
  if (o.refine_steps > 0)
    j["reconstruction_refined"] = refined_figures(
        m, test, rows, x, rec, o, progress, "attribute", [&](const torch::Tensor& images, int64_t k) {
          auto truth = y.narrow(0, 0, k).index_select(1, cols);
          return mean_of(per_column_accuracy(attribute_probabilities(clf, images), truth));
        });

  say(progress, "inpainting");
  j["inpainting"] = inpainting_figures(m, train, test, rows, x, o.seed);

  // The decoder is sampled with z independent of y; codes that tell an attribute are codes it meets
  // with the wrong value of it (what --independence-weight trains away).
  say(progress, "what the codes tell of the attributes");
  auto mu = encode_all(m, test, rows, false);
  nlohmann::json told = nlohmann::json::object();
  double told_total = 0;
  for (size_t i = 0; i < clf.names.size(); ++i) {
    double d = code_attribute_dependence(mu, y.select(1, clf.columns[i]).unsqueeze(1)).item<double>();
    told[clf.names[i]] = d;
    told_total += d;
  }
  j["code_attribute_dependence"] = {
      {"total", told_total},
      {"per_attribute", told},
      {"what", "squared correlations of E(x, y)'s mu with each attribute, less chance, summed over "
               "the code (0: the codes carry nothing linear about it)"}};
  j["prior_match"] = prior_match_figures(m, test, rows, o.seed);

  say(progress, "samples and Frechet distance");
  auto z = seeded_normal(n, c.nlat, o.seed + 5);
  torch::Tensor samples;
  {
    torch::InferenceMode guard;
    m.train(false);
    samples = batched(n, 250, [&](int64_t a, int64_t b) { return decode(m, z.slice(0, a, b), y.slice(0, a, b)); });
  }
  auto feats = [&](const torch::Tensor& imgs) { return classifier_features(clf.net, imgs); };
  auto half = n / 2;
  auto real = feats(x);
  j["sample_quality"] = {{"frechet_distance", frechet_distance(feats(samples), real)},
                         {"baseline_half_vs_half", frechet_distance(real.narrow(0, 0, half), real.narrow(0, half, n - half))},
                         {"samples", n},
                         {"feature_space", "attribute classifier, penultimate layer (128-d)"}};
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}

}  // namespace ali
