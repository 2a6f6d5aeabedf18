// FusedAdam: the same updates and state as torch::optim::Adam (to float rounding), for NCHW and
// channels_last parameters, through save and load in both directions, and moments loaded in another
// layout.
#include <gtest/gtest.h>

#include <sstream>

#include "ali/fused_adam.h"

using namespace ali;

namespace {

// Parameters of the shapes a model has: conv weights (one channels_last), a bias, a vector.
std::vector<torch::Tensor> make_params(uint64_t seed, bool channels_last) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> p{torch::randn({32, 16, 4, 4}), torch::randn({64}),
                               torch::randn({8, 3, 5, 5}), torch::randn({1, 28, 28})};
  if (channels_last) p[0] = p[0].contiguous(at::MemoryFormat::ChannelsLast);
  for (auto& t : p) t.requires_grad_(true);
  return p;
}

torch::optim::AdamOptions options() {
  return torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999));
}

// `steps` updates with the same pseudo-random gradients (seeded by step) on each optimiser.
void run(torch::optim::Optimizer& opt, std::vector<torch::Tensor>& params, int first, int steps) {
  for (int s = first; s < first + steps; ++s) {
    torch::manual_seed(1000 + s);
    for (auto& p : params) p.mutable_grad() = torch::randn_like(p) * (s % 3 + 1);
    opt.step();
  }
}

double max_rel(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, ((a[i] - b[i]).abs().max() / b[i].abs().max()).item<double>());
  return worst;
}

torch::Tensor moment(torch::optim::Optimizer& opt, const torch::Tensor& p) {
  auto& st = static_cast<torch::optim::AdamParamState&>(
      *opt.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
  return st.exp_avg_sq();
}

}  // namespace

TEST(FusedAdam, UpdatesAsAdamDoes) {
  for (bool cl : {false, true}) {
    auto a = make_params(1, cl), b = make_params(1, cl);
    FusedAdam fused(a, options());
    torch::optim::Adam adam(b, options());
    run(fused, a, 0, 25);
    run(adam, b, 0, 25);
    EXPECT_LT(max_rel(a, b), 1e-6) << cl;
    // The parameters moved (a test of updates, not of two idle optimisers).
    EXPECT_GT((a[0] - make_params(1, cl)[0]).abs().max().item<double>(), 2e-3) << cl;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LT(max_rel({moment(fused, a[i])}, {moment(adam, b[i])}), 1e-6) << i;
      EXPECT_EQ(moment(fused, a[i]).strides(), a[i].strides()) << i;
    }
  }
}

TEST(FusedAdam, StateSavedByOneLoadsIntoTheOther) {
  auto a = make_params(2, true), b = make_params(2, true);
  FusedAdam fused(a, options());
  run(fused, a, 0, 10);
  // FusedAdam -> Adam: copy the weights, move the state over, continue both.
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
  }
  torch::optim::Adam adam(b, options());
  std::stringstream file;
  {
    torch::serialize::OutputArchive out;
    fused.save(out);
    out.save_to(file);
  }
  torch::serialize::InputArchive in;
  in.load_from(file);
  adam.load(in);
  run(fused, a, 10, 10);
  run(adam, b, 10, 10);
  EXPECT_LT(max_rel(a, b), 1e-6);
}

TEST(FusedAdam, MomentsInAnotherLayoutTakeTheParametersLayout) {
  // A resumed run: moments saved for NCHW weights, the weights then stored channels_last.
  auto a = make_params(3, false), b = make_params(3, false);
  FusedAdam fused(a, options());
  torch::optim::Adam adam(b, options());
  run(fused, a, 0, 5);
  run(adam, b, 0, 5);
  for (auto* ps : {&a, &b})
    (*ps)[0].set_data((*ps)[0].data().contiguous(at::MemoryFormat::ChannelsLast));
  run(fused, a, 5, 5);
  run(adam, b, 5, 5);
  EXPECT_LT(max_rel(a, b), 1e-6);
  EXPECT_TRUE(moment(fused, a[0]).is_contiguous(at::MemoryFormat::ChannelsLast));
}
