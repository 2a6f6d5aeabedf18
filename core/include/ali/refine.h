// Latent refinement (encoder-initialised inversion): starting from E(x)'s mean, gradient descent on
// the code z alone (the networks stay fixed) to minimise
//   mean (G(z) - x)^2  +  feature_weight * mean (F(G(z)) - F(x))^2 / mean F(x)^2  +  prior_weight * mean z^2
// where F is a feature network (the evaluation classifier's penultimate layer, when one is given).
// The reconstruction then follows the image more closely than the encoder alone gives it; ALI gives
// the starting code for free.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "ali/models.h"

namespace ali {

// Adam's state on the codes where a refinement stopped, so that another call goes on as one longer
// run would (the explorer refines in chunks, to show each one).
struct RefineMoments {
  torch::Tensor exp_avg, exp_avg_sq;  // N x nlat, CPU; undefined: a fresh start
  int64_t step = 0;
};

struct RefineOptions {
  int steps = 100;
  double lr = 0.05;              // Adam on z
  double feature_weight = 0.1;   // relative feature error (0, or no feature network: pixels alone)
  double prior_weight = 0.01;    // keeps z where the decoder was trained (N(0, I))
  RefineMoments resume;          // go on from an earlier call's result.moments (its z as z0)
  // Inpainting: N x 1 x H x W (or N x C x H x W) weights of the pixels the fit counts, 1 where the
  // image is known and 0 in a hole; undefined: every pixel. The MSE is then over the known pixels,
  // and the feature term is not used (features of a holed image are not the image's).
  torch::Tensor known;
};

// Differentiable images (N x C x H x W in [0, 1]) -> features (N x D).
using FeatureFn = std::function<torch::Tensor(const torch::Tensor&)>;

// The feature network for a model's refinement: spec "auto" is the evaluation classifier `ali eval`
// caches for the model's dataset (empty when there is none: pixels alone; `note` says so), "none" is
// empty, anything else a classifier file (ali::Error when it is unreadable or takes other images).
// Each call loads its own copy (a module must not run on two threads at once).
FeatureFn evaluation_features(const ModelConfig& config, const std::string& spec = "auto",
                              std::string* note = nullptr);

struct RefineResult {
  torch::Tensor z;                // N x nlat, CPU: the refined codes
  std::vector<double> mse;        // pixel MSE (of the known pixels): before step 1, then per step
  double seconds = 0;             // wall time of the descent
  RefineMoments moments;          // Adam's state after the last step (for RefineOptions::resume)
};

// `x`: N x C x H x W in [0, 1]; `z0`: N x nlat (E's mu); `y`: a conditional model's attribute rows.
// `on_step(step, mse, z)` after each step (z on CPU); returning false stops early (the codes so far
// are returned). The model is left in eval mode with its parameters untouched.
RefineResult refine_codes(AliModel& m, const torch::Tensor& x, const torch::Tensor& z0,
                          const torch::Tensor& y, const RefineOptions& options,
                          const FeatureFn& features = {},
                          const std::function<bool(int, double, const torch::Tensor&)>& on_step = {});

}  // namespace ali
