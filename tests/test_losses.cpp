// The ALI losses on hand-computed logits, and the simultaneous update's gradient routing.
#include <gtest/gtest.h>

#include <cmath>

#include "ali/trainer.h"
#include "test_util.h"

using namespace ali;
using test::all_close;
using test::grads_of;

namespace {
double softplus(double x) { return std::log1p(std::exp(x)); }
}  // namespace

TEST(Losses, MatchHandComputedValues) {
  auto l_q = torch::tensor({0.0, 2.0}, torch::kDouble);
  auto l_p = torch::tensor({-1.0, 1.0}, torch::kDouble);
  auto L = ali_losses(l_q, l_p);
  double d = (softplus(-0.0) + softplus(-2.0)) / 2 + (softplus(-1.0) + softplus(1.0)) / 2;
  double g = (softplus(0.0) + softplus(2.0)) / 2 + (softplus(1.0) + softplus(-1.0)) / 2;
  EXPECT_NEAR(L.d_loss.item<double>(), d, 1e-12);
  EXPECT_NEAR(L.g_loss.item<double>(), g, 1e-12);
  // At D's equilibrium (all logits 0) both losses are 2 log 2.
  auto zero = torch::zeros({4}, torch::kDouble);
  EXPECT_NEAR(ali_losses(zero, zero).d_loss.item<double>(), 2 * std::log(2.0), 1e-12);
}

namespace {
// An fmnist28 model in training mode, 6 images, and its D and E+G parameter lists.
struct GradientCase {
  ModelConfig config = [] {
    ModelConfig c;
    c.arch = "fmnist28";
    return c;
  }();
  AliModel m{config};
  torch::Tensor x = test::synthetic_set(6, 1, 28)->float_images(torch::arange(6));
  std::vector<torch::Tensor> d_params, g_params;
  GradientCase() {
    m.train(true);
    d_params = m.discriminator->parameters();
    g_params = m.encoder->parameters();
    for (auto& p : m.decoder->parameters()) g_params.push_back(p);
  }
};
}  // namespace

TEST(Losses, DiscriminatorLearnsFromLdAndGeneratorsFromLg) {
  GradientCase k;
  auto& [config, m, x, d_params, g_params] = k;

  torch::manual_seed(11);
  compute_ali_gradients(m, x);
  auto got_d = grads_of(d_params), got_g = grads_of(g_params);

  // The same forward pass by hand (same noise), then each loss's gradients separately.
  torch::manual_seed(11);
  auto z = torch::randn({6, m.config.nlat});
  auto enc = m.encoder->forward(x);
  auto z_hat = m.encoder->sample(enc, false);
  auto x_tilde = m.decoder->forward(z);
  auto logits = m.discriminator->forward_parts({x, x_tilde}, {z_hat, z});
  auto L = ali_losses(logits.narrow(0, 0, 6), logits.narrow(0, 6, 6));
  test::expect_routed(d_params, g_params, got_d, got_g, L.d_loss, L.g_loss);
}

TEST(Losses, DiscriminatorOnPartsEqualsItOnTheConcatenatedBatch) {
  // BatchNorm's batch statistics span the parts; only dropout (off here) draws per part.
  GradientCase k;
  auto& m = k.m;
  for (auto& mod : m.discriminator->modules(false))
    if (mod->as<Dropout>()) mod->eval();
  torch::manual_seed(3);
  auto x = k.x, z_hat = torch::randn({6, m.config.nlat}), z = torch::randn({6, m.config.nlat});
  auto x_tilde = torch::rand_like(x).requires_grad_(true);
  auto parts = m.discriminator->forward_parts({x, x_tilde}, {z_hat, z});
  auto whole = m.discriminator->forward(torch::cat({x, x_tilde}), torch::cat({z_hat, z}));
  ASSERT_EQ(parts.sizes(), whole.sizes());
  EXPECT_TRUE(torch::allclose(parts, whole, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(parts.narrow(0, 0, 6), parts.narrow(0, 6, 6)));
  auto g_parts = torch::autograd::grad({parts.sum()}, {x_tilde})[0];
  auto g_whole = torch::autograd::grad({whole.sum()}, {x_tilde})[0];
  EXPECT_TRUE(torch::allclose(g_parts, g_whole, 1e-4, 1e-6));
  EXPECT_GT(g_parts.abs().sum().item<double>(), 0.0);
}

TEST(Losses, BiganEncoderIsDeterministic) {
  ModelConfig c;
  c.arch = "fmnist28";
  c.bigan = true;
  AliModel m(c);
  auto x = torch::rand({2, 1, 28, 28});
  auto enc = m.encoder->forward(x);
  EXPECT_TRUE(torch::equal(m.encoder->sample(enc, true), enc.mu));
  EXPECT_FALSE(torch::equal(m.encoder->sample(enc, false), enc.mu));
}

TEST(Losses, TrainerStepUpdatesAllThreeNetworks) {
  auto trainer = test::small_trainer();
  Trainer& t = *trainer;
  auto before_e = t.model().encoder->parameters()[0].clone();
  auto before_g = t.model().decoder->parameters()[0].clone();
  auto before_d = t.model().discriminator->parameters()[0].clone();
  auto s = t.step();
  EXPECT_EQ(s.step, 1);
  EXPECT_TRUE(std::isfinite(s.d_loss) && std::isfinite(s.g_loss));
  EXPECT_GT(s.metric("p_real"), 0.0);
  EXPECT_LT(s.metric("p_fake"), 1.0);
  EXPECT_FALSE(torch::equal(before_e, t.model().encoder->parameters()[0]));
  EXPECT_FALSE(torch::equal(before_g, t.model().decoder->parameters()[0]));
  EXPECT_FALSE(torch::equal(before_d, t.model().discriminator->parameters()[0]));
}

TEST(Losses, NonFiniteLossStopsWithoutTouchingTheModel) {
  auto trainer = test::small_trainer();
  Trainer& t = *trainer;
  t.step();
  {
    torch::NoGradGuard ng;
    t.model().decoder->named_parameters()["out_bias"].fill_(std::nanf(""));
  }
  auto d0 = t.model().discriminator->parameters()[0].clone();
  EXPECT_THROW(t.step(), NonFiniteLoss);
  EXPECT_EQ(t.step_count(), 1);
  EXPECT_TRUE(torch::equal(d0, t.model().discriminator->parameters()[0]));
}

TEST(Losses, ReconstructionWeightAddsTheCycleTermToEncoderAndDecoderOnly) {
  GradientCase k;
  auto& [config, m, x, d_params, g_params] = k;

  torch::manual_seed(5);
  auto plain = compute_ali_gradients(m, x);
  auto plain_d = grads_of(d_params), plain_g = grads_of(g_params);
  EXPECT_FALSE(plain.rec.defined());
  torch::manual_seed(5);  // the same noise: only the added term differs
  auto with = compute_ali_gradients(m, x, {}, 10.0);
  ASSERT_TRUE(with.rec.defined());
  EXPECT_GT(with.rec.item<double>(), 0.0);
  EXPECT_NEAR(with.losses.g_loss.item<double>(), plain.losses.g_loss.item<double>(), 1e-6);
  EXPECT_TRUE(all_close(grads_of(d_params), plain_d));   // D never sees the reconstruction term
  EXPECT_FALSE(all_close(grads_of(g_params), plain_g));  // E and G do
}

TEST(Losses, ReconstructionWeightIsKeptInTheCheckpoint) {
  test::TempDir dir;
  ModelConfig c;
  c.arch = "fmnist28";
  TrainOptions o;
  o.batch = 4;
  o.rec_weight = 2.5;
  Trainer t(c, o, torch::kCPU);
  t.set_data(test::synthetic_set(8, 1, 28));
  auto s = t.step();
  EXPECT_GT(s.metric("rec"), 0.0);
  t.save(dir / "r.ali");
  EXPECT_DOUBLE_EQ(Trainer::resume(dir / "r.ali", torch::kCPU)->options().rec_weight, 2.5);
}
