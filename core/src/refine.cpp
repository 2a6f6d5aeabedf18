#include "ali/refine.h"

#include <chrono>
#include <filesystem>

#include "ali/error.h"
#include "ali/evaluation.h"

namespace fs = std::filesystem;

namespace ali {

FeatureFn evaluation_features(const ModelConfig& c, const std::string& spec, std::string* note) {
  if (spec == "none") return {};
  fs::path path = spec;
  if (spec == "auto") {
    path = default_classifier_path(c.dataset, c.image_channels, c.image_size);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      if (note)
        *note = "refining on pixels alone (no evaluation classifier cached at " + path.string() +
                ": `ali eval` makes one)";
      return {};
    }
  }
  double accuracy = 0;
  auto own = std::make_shared<Classifier>(load_classifier(path, &accuracy));
  if ((*own)->channels != c.image_channels || (*own)->image_size != c.image_size)
    throw Error("classifier " + path.string() + " takes other images than this model");
  (*own)->eval();
  for (auto& p : (*own)->parameters()) p.requires_grad_(false);
  return [own](const torch::Tensor& images) { return (*own)->features(images.cpu()); };
}

RefineResult refine_codes(AliModel& m, const torch::Tensor& x, const torch::Tensor& z0,
                          const torch::Tensor& y, const RefineOptions& o, const FeatureFn& features,
                          const std::function<bool(int, double, const torch::Tensor&)>& on_step) {
  if (o.steps < 0) throw Error("refinement steps must be 0 or more");
  if (!(o.lr > 0)) throw Error("the refinement rate must be positive");
  if (x.dim() != 4 || z0.dim() != 2 || x.size(0) != z0.size(0) || z0.size(1) != m.config.nlat)
    throw Error("refinement takes N images and N codes of the model's size");
  auto t0 = std::chrono::steady_clock::now();
  // Callers may run under inference mode (the explorer's worker): gradients are wanted here, and
  // inference tensors cannot take part in autograd, so inputs are copied outside it.
  c10::InferenceMode no_inference(false);
  torch::AutoGradMode grad(true);
  m.train(false);
  auto dev = m.device();
  auto target = x.to(dev, torch::kFloat).clone();
  auto yd = y.defined() ? y.to(dev, torch::kFloat).clone() : y;
  // The networks are constants here: gradients flow to z alone.
  std::vector<std::pair<torch::Tensor, bool>> frozen;
  for (auto& p : m.decoder->parameters()) {
    frozen.emplace_back(p, p.requires_grad());
    p.requires_grad_(false);
  }
  struct Restore {
    std::vector<std::pair<torch::Tensor, bool>>& f;
    ~Restore() {
      for (auto& [p, r] : f) p.requires_grad_(r);
    }
  } restore{frozen};

  torch::Tensor known, known_count;
  if (o.known.defined()) {
    if (o.known.dim() != 4 || o.known.size(0) != x.size(0) || o.known.size(2) != x.size(2) ||
        o.known.size(3) != x.size(3) || (o.known.size(1) != 1 && o.known.size(1) != x.size(1)))
      throw Error("refinement: the known-pixel mask does not fit the images");
    known = o.known.to(dev, torch::kFloat).expand_as(target).contiguous();
    known_count = known.sum();
    if (!(known_count.item<double>() > 0)) throw Error("refinement: no known pixel to fit");
  }
  // The fit's error: the mean over every pixel, or over the known ones.
  auto error = [&](const torch::Tensor& g) {
    auto sq = (g - target).pow(2);
    return known.defined() ? (sq * known).sum() / known_count : sq.mean();
  };
  torch::Tensor target_features, feature_scale;
  bool use_features = features && o.feature_weight > 0 && !known.defined();
  if (use_features) {
    torch::NoGradGuard ng;
    target_features = features(target).detach();
    feature_scale = target_features.pow(2).mean().clamp_min(1e-8);
  }
  auto z = z0.to(dev, torch::kFloat).clone().requires_grad_(true);
  torch::optim::Adam opt({z}, torch::optim::AdamOptions(o.lr));
  // LibTorch keys an optimiser's per-parameter state by the tensor's impl (as its optimisers do).
  const std::string key = c10::guts::to_string(z.unsafeGetTensorImpl());
  if (o.resume.exp_avg.defined()) {
    if (o.resume.exp_avg.sizes() != z.sizes() || o.resume.exp_avg_sq.sizes() != z.sizes())
      throw Error("refinement: the moments to resume from are for other codes");
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(o.resume.step);
    state->exp_avg(o.resume.exp_avg.to(dev, torch::kFloat).clone());
    state->exp_avg_sq(o.resume.exp_avg_sq.to(dev, torch::kFloat).clone());
    opt.state()[key] = std::move(state);
  }
  RefineResult r;
  for (int step = 0;; ++step) {
    auto g = m.decoder->forward(z, yd);
    auto mse = error(g);
    r.mse.push_back(mse.item<double>());  // after `step` updates
    if (step > 0 && on_step && !on_step(step, r.mse.back(), z.detach().cpu())) break;
    if (step == o.steps) break;
    auto loss = mse + o.prior_weight * z.pow(2).mean();
    if (use_features)
      loss = loss + o.feature_weight * (features(g) - target_features).pow(2).mean() / feature_scale;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  r.z = z.detach().cpu();
  if (auto it = opt.state().find(key); it != opt.state().end()) {
    auto& state = static_cast<torch::optim::AdamParamState&>(*it->second);
    r.moments = {state.exp_avg().cpu(), state.exp_avg_sq().cpu(), state.step()};
  } else {
    r.moments = o.resume;  // no step taken
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace ali
