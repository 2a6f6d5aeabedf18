// The fused BatchNorm + LeakyReLU: the same outputs, gradients and running statistics as LibTorch's
// two modules, in fp32 and bf16, on the map shapes the presets train; the modules' own path
// wherever it does not fuse; conv stacks give what their modules give.
#include <gtest/gtest.h>

#include "ali/batch_norm_act.h"
#include "ali/config.h"
#include "ali/dropout.h"
#include "ali/models.h"

using namespace ali;
namespace nn = torch::nn;

namespace {

constexpr double kSlope = 0.02;

nn::BatchNorm2d make_bn(int64_t channels, uint64_t seed) {
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(channels).momentum(0.05));
  torch::manual_seed(seed);
  torch::NoGradGuard ng;
  bn->weight.uniform_(0.5, 1.5);
  bn->bias.uniform_(-0.5, 0.5);
  bn->running_mean.uniform_(-1, 1);
  bn->running_var.uniform_(0.5, 2);
  return bn;
}

struct Result {
  torch::Tensor y, dx, dw, db, running_mean, running_var, batches;
};

// One forward and backward pass (upstream gradient dy) through either path, on fresh copies.
Result run(const torch::Tensor& x0, const torch::Tensor& dy, nn::BatchNorm2d bn, bool fused) {
  auto x = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
  auto y =
      fused ? batch_norm_leaky_relu(x, *bn, kSlope) : torch::leaky_relu(bn->forward(x), kSlope);
  y.backward(dy);
  return {y.detach(),
          x.grad(),
          bn->weight.grad(),
          bn->bias.grad(),
          bn->running_mean.clone(),
          bn->running_var.clone(),
          bn->num_batches_tracked.clone()};
}

double max_rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto fa = a.to(torch::kDouble), fb = b.to(torch::kDouble);
  return ((fa - fb).abs().max() / fb.abs().max().clamp_min(1e-12)).item<double>();
}

torch::Tensor nhwc(const torch::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

// Two conv stacks (1 input channel) with the same weights, stored NHWC as the trainer stores them.
std::pair<nn::Sequential, nn::Sequential> twin_stacks(const std::vector<LayerSpec>& layers, float slope,
                                                      float dropout_first, float dropout_rest) {
  int out = 0;
  auto stack = make_conv_stack(layers, 1, slope, false, dropout_first, dropout_rest, &out);
  auto copy = make_conv_stack(layers, 1, slope, false, dropout_first, dropout_rest, &out);
  {
    torch::NoGradGuard ng;
    auto p = stack->parameters(), q = copy->parameters();
    for (size_t i = 0; i < p.size(); ++i) q[i].copy_(p[i]);
  }
  for (auto* m : {&stack, &copy})
    for (auto& p : (*m)->parameters())
      if (p.dim() == 4) p.set_data(nhwc(p.data()));
  return {stack, copy};
}

// The modules one by one, as Sequential::forward runs them: the output, and each layer's output
// after its activation (and the Dropout after it), as run_conv_stack's taps.
std::pair<torch::Tensor, std::vector<torch::Tensor>> modules_with_taps(nn::Sequential& s, torch::Tensor h) {
  std::vector<torch::Tensor> taps;
  bool after_activation = false;
  for (auto it = s->begin(); it != s->end(); ++it) {
    h = it->forward(h);
    const bool activation = it->ptr()->as<nn::LeakyReLUImpl>() != nullptr;
    if (activation)
      taps.push_back(h);
    else if (after_activation && it->ptr()->as<DropoutImpl>())
      taps.back() = h;
    after_activation = activation;
  }
  return {h, taps};
}

// run_conv_stack(stack, x) against the modules of `copy`, each after manual_seed(seed): outputs and
// parameter gradients. Returns the modules' output.
//
// The two paths round differently (fp32, sums in other orders), so a pre-activation within rounding
// of zero can land on either side of the LeakyReLU's kink: that one element's slope is then 1 in one
// path and 0.02 in the other, and every gradient upstream of it moves by up to a tenth (a draw in
// about thirty does this: ALI_TEST_SEED=38). Such flips are counted, and must stay that rare; the
// gradients are compared where every element took the same side in both paths.
torch::Tensor expect_stack_equals_modules(nn::Sequential& stack, nn::Sequential& copy,
                                          const torch::Tensor& x, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> fused_taps;
  auto fused = run_conv_stack(stack, std::vector<torch::Tensor>{x}, &fused_taps)[0];
  torch::manual_seed(seed);
  auto [modules, module_taps] = modules_with_taps(copy, x);
  EXPECT_LT(max_rel(fused, modules), 1e-5);
  EXPECT_EQ(fused_taps.size(), module_taps.size());
  int64_t flips = 0;
  for (size_t i = 0; i < std::min(fused_taps.size(), module_taps.size()); ++i)
    flips += ((fused_taps[i] > 0) != (module_taps[i] > 0)).sum().item<int64_t>();
  EXPECT_LE(flips, 2);
  fused.sum().backward();
  modules.sum().backward();
  if (flips > 0) {
    std::printf("%lld element(s) on the other side of the kink: gradients not compared\n",
                static_cast<long long>(flips));
    return modules.detach();
  }
  auto p = stack->parameters(), q = copy->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_LT(max_rel(p[i].grad(), q[i].grad()), 1e-4) << i;
  return modules.detach();
}

}  // namespace

TEST(BatchNormAct, FusedEqualsTheTwoModulesOnThePresetsMaps) {
  // (batch, channels, size): fmnist28's and svhn32's BatchNorm maps, a 1-pixel map with a big
  // batch, and one whose channel count does not divide the fused walk's block.
  const std::vector<std::array<int64_t, 3>> shapes{{7, 16, 24},  {9, 64, 8},  {5, 32, 11},
                                                   {600, 24, 1}, {3, 48, 28}, {60, 200, 3}};
  uint64_t seed = 1;
  for (auto dtype : {torch::kFloat, torch::kBFloat16})
    for (const auto& s : shapes) {
      SCOPED_TRACE(std::string(dtype == torch::kFloat ? "fp32 " : "bf16 ") + std::to_string(s[0]) +
                   "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]));
      torch::manual_seed(++seed);
      // An offset mean, so that both signs of the activation and the shifted sums are exercised.
      auto x = nhwc((torch::randn({s[0], s[1], s[2], s[2]}) * 2.5 + 1.5).to(dtype));
      auto dy = nhwc(torch::randn({s[0], s[1], s[2], s[2]}).to(dtype));
      ASSERT_TRUE(batch_norm_leaky_relu_fuses(x, *make_bn(s[1], seed)));
      Result f = run(x, dy, make_bn(s[1], seed), true);
      EXPECT_EQ(f.y.scalar_type(), dtype);
      EXPECT_TRUE(f.y.is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_EQ(f.dx.scalar_type(), dtype);
      EXPECT_EQ(f.dw.scalar_type(), torch::kFloat);
      EXPECT_EQ(f.batches.item<int64_t>(), 1);
      // fp32: against the modules, to rounding. bf16: against the modules in fp32 on the same
      // (bf16-valued) inputs; the fused output is one rounding from exact, its input gradient one
      // rounding of a sum of bf16 products.
      const bool fp32 = dtype == torch::kFloat;
      Result m = run(x.to(torch::kFloat), dy.to(torch::kFloat), make_bn(s[1], seed), false);
      const double out_tol = fp32 ? 1e-5 : 8e-3, param_tol = fp32 ? 1e-5 : 1e-4,
                   stats_tol = fp32 ? 1e-6 : 1e-5;
      EXPECT_LT(max_rel(f.y, m.y), out_tol);
      EXPECT_LT(max_rel(f.dx, m.dx), out_tol);
      EXPECT_LT(max_rel(f.dw, m.dw), param_tol);
      EXPECT_LT(max_rel(f.db, m.db), param_tol);
      EXPECT_LT(max_rel(f.running_mean, m.running_mean), stats_tol);
      EXPECT_LT(max_rel(f.running_var, m.running_var), stats_tol);
    }
}

TEST(BatchNormAct, ParameterGradientsAloneAndInputGradientAlone) {
  auto x = nhwc(torch::randn({8, 16, 12, 12})).requires_grad_(true);
  auto bn = make_bn(16, 3);
  auto y = batch_norm_leaky_relu(x, *bn, kSlope);
  // D's pass asks for its parameters' gradients only.
  auto g = torch::autograd::grad({y.sum()}, {bn->weight, bn->bias}, {}, true);
  auto m_bn = make_bn(16, 3);
  auto xm = x.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
  auto gm = torch::autograd::grad({torch::leaky_relu(m_bn->forward(xm), kSlope).sum()},
                                  {m_bn->weight, m_bn->bias});
  EXPECT_LT(max_rel(g[0], gm[0]), 1e-5);
  EXPECT_LT(max_rel(g[1], gm[1]), 1e-5);
  // The other pass: the input's only.
  auto gx = torch::autograd::grad({y.sum()}, {x});
  EXPECT_TRUE(torch::isfinite(gx[0]).all().item<bool>());
}

TEST(BatchNormAct, OtherCasesRunTheModulesThemselves) {
  auto bn = make_bn(16, 5);
  auto x = nhwc(torch::randn({8, 16, 12, 12}));
  EXPECT_TRUE(batch_norm_leaky_relu_fuses(x, *bn));
  EXPECT_FALSE(batch_norm_leaky_relu_fuses(x.contiguous(), *bn));                     // NCHW
  EXPECT_FALSE(batch_norm_leaky_relu_fuses(nhwc(torch::randn({4, 16, 2, 2})), *bn));  // small map
  EXPECT_FALSE(batch_norm_leaky_relu_fuses(x.to(torch::kDouble), *bn));
  bn->eval();
  EXPECT_FALSE(batch_norm_leaky_relu_fuses(x, *bn));
  // Evaluation: the running statistics, unchanged, and exactly the modules' result.
  auto before = bn->running_mean.clone();
  EXPECT_TRUE(torch::equal(batch_norm_leaky_relu(x, *bn, kSlope),
                           torch::leaky_relu(bn->forward(x), kSlope)));
  EXPECT_TRUE(torch::equal(bn->running_mean, before));
}

TEST(BatchNormAct, ANaNInTheInputIsNotHidden) {
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto x = torch::randn({8, 16, 12, 12});
    x[3][5][2][7] = std::numeric_limits<float>::quiet_NaN();
    auto y = batch_norm_leaky_relu(nhwc(x.to(dtype)), *make_bn(16, 7), kSlope);
    // Channel 5 is all NaN (its statistics are); the others are finite.
    EXPECT_TRUE(torch::isnan(y.select(1, 5)).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(y.select(1, 4)).all().item<bool>());
  }
}

TEST(BatchNormAct, ConvStacksGiveWhatTheirModulesGive) {
  // fmnist28's encoder and D(x) stacks (dropout off: it draws its mask from the generator), NHWC,
  // training mode: run_conv_stack (fused) against Sequential::forward (the modules), on the whole
  // batch and on two parts.
  const ArchSpec& a = arch_preset("fmnist28");
  for (const auto* layers : {&a.encoder, &a.disc_x}) {
    auto [stack, copy] = twin_stacks(*layers, a.slope, 0, 0);
    auto x = nhwc(torch::rand({12, 1, 28, 28}));
    expect_stack_equals_modules(stack, copy, x, 1);
    // Parts: the same as the whole batch (BatchNorm over both parts together).
    auto parts = run_conv_stack(stack, {x.narrow(0, 0, 5), x.narrow(0, 5, 7)});
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_LT(max_rel(torch::cat(parts), run_conv_stack(stack, x)), 1e-5);
  }
}

TEST(BatchNormAct, DropoutMaskFusedEqualsTheModulesTimesTheMask) {
  // The Dropout after the activation (D's stacks) multiplied in by the fused passes: the same
  // output and gradients as leaky_relu(bn(x)) * mask, in fp32 and bf16.
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto x0 = nhwc(torch::randn({8, 24, 12, 12}).to(dtype));
    auto dy = nhwc(torch::randn({8, 24, 12, 12}).to(dtype));
    auto mask = dropout_mask(x0, 0.2, 77);
    ASSERT_GT((mask == 0).sum().item<int64_t>(), 0);  // some elements are dropped
    auto fused_bn = make_bn(24, 9), module_bn = make_bn(24, 9);
    ASSERT_TRUE(batch_norm_leaky_relu_fuses(x0, *fused_bn));
    auto xf = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
    auto xm = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
    auto yf = batch_norm_leaky_relu(xf, *fused_bn, kSlope, mask);
    auto ym = torch::leaky_relu(module_bn->forward(xm), kSlope) * mask;
    const double tol = dtype == torch::kFloat ? 1e-5 : 2e-2;
    EXPECT_LT(max_rel(yf, ym), tol);
    EXPECT_TRUE(torch::equal(yf == 0, ym == 0) || dtype == torch::kBFloat16);
    yf.backward(dy);
    ym.backward(dy);
    EXPECT_LT(max_rel(xf.grad(), xm.grad()), dtype == torch::kFloat ? 1e-4 : 3e-2);
    EXPECT_LT(max_rel(fused_bn->weight.grad(), module_bn->weight.grad()), dtype == torch::kFloat ? 1e-4 : 3e-2);
    EXPECT_LT(max_rel(fused_bn->bias.grad(), module_bn->bias.grad()), dtype == torch::kFloat ? 1e-4 : 3e-2);
  }
}

TEST(BatchNormAct, LeakyReluMaskEqualsTheOpsInEveryLayout) {
  for (auto dtype : {torch::kFloat, torch::kBFloat16})
    for (bool channels_last : {false, true}) {
      auto x0 = torch::randn({6, 16, 9, 9}).to(dtype);
      if (channels_last) x0 = nhwc(x0);
      auto mask = dropout_mask(x0, 0.3, 5);
      auto dy = torch::randn({6, 16, 9, 9}).to(dtype);
      auto a = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
      auto b = x0.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
      auto ya = leaky_relu_mask(a, kSlope, mask);
      auto yb = torch::leaky_relu(b, kSlope) * mask;
      // bf16: the ops round twice (after the activation and after the product), the fused pass once.
      const double tol = dtype == torch::kFloat ? 1e-6 : 1e-2;
      EXPECT_LT(max_rel(ya, yb), tol);
      EXPECT_TRUE(torch::equal(ya == 0, yb == 0));
      ya.backward(dy);
      yb.backward(dy);
      EXPECT_LT(max_rel(a.grad(), b.grad()), tol)
          << "dtype " << dtype << (channels_last ? " NHWC" : " NCHW");
    }
  // No mask: leaky_relu alone; a mask that does not fit (another layout): still the right values.
  auto x = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::equal(leaky_relu_mask(x, kSlope, {}), torch::leaky_relu(x, kSlope)));
  auto m = nhwc(dropout_mask(x, 0.5, 1));
  EXPECT_TRUE(torch::allclose(leaky_relu_mask(x, kSlope, m), torch::leaky_relu(x, kSlope) * m));
}

TEST(BatchNormAct, ConvStacksWithDropoutGiveWhatTheirModulesGive) {
  // D(x)'s stack with dropout before every layer: run_conv_stack multiplies each Dropout's mask into
  // the activation before it, drawing the same seeds in the same order as Sequential::forward.
  const ArchSpec& a = arch_preset("fmnist28");
  auto [stack, copy] = twin_stacks(a.disc_x, a.slope, 0.2f, 0.5f);
  auto x = nhwc(torch::rand({12, 1, 28, 28}));
  auto modules = expect_stack_equals_modules(stack, copy, x, 123);
  // A different seed gives different masks (the dropout is really there).
  torch::manual_seed(124);
  EXPECT_GT(max_rel(run_conv_stack(stack, x), modules), 1e-2);
}
