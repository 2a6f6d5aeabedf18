// The objectives behind the trainer's seam: K-way (GALI) and K+1 (semi) losses on hand-computed
// logits, gradient routing, tuple construction, the K-way discriminator's shapes, spectral
// normalisation, checkpoints and resume with an objective, inpainting, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/script.h>

#include "ali/evaluation.h"
#include "ali/inpaint.h"
#include "ali/refine.h"
#include "ali/objective.h"
#include "ali/spectral_norm.h"
#include "ali/trainer.h"
#include "test_util.h"

using namespace ali;
using test::all_close;
using test::error_of;
using test::grads_of;

namespace {
double softplus(double x) { return std::log1p(std::exp(x)); }
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

ModelConfig config_for(const std::string& objective, int classes = 10, int features = 0) {
  ModelConfig c;
  c.arch = "fmnist28";
  ObjectiveShape shape;
  shape.classes = classes;
  shape.feature_dim = features;
  return configure_objective(c.resolved(), objective, shape);
}

TrainOptions small_options(int batch = 8) {
  TrainOptions o;
  o.batch = batch;
  return o;
}

bool all_zero(const std::vector<torch::Tensor>& a) {
  for (const auto& t : a)
    if (t.abs().sum().item<double>() != 0) return false;
  return true;
}
std::vector<torch::Tensor> ge_params(AliModel& m) {
  auto p = m.encoder->parameters();
  for (auto& q : m.decoder->parameters()) p.push_back(q);
  return p;
}
}  // namespace

TEST(KWayLosses, TwoClassesAreAlisLosses) {
  // Class 0 = encoder pairs with ALI logit l_q, class 1 = decoder pairs with l_p: logits (l, 0).
  auto l_q = torch::tensor({0.5, -1.0}, torch::kDouble),
       l_p = torch::tensor({2.0, 0.25}, torch::kDouble);
  auto zeros = torch::zeros({2}, torch::kDouble);
  auto logits = torch::cat({torch::stack({l_q, zeros}, 1), torch::stack({l_p, zeros}, 1)});
  auto k = kway_losses(logits, uniform_weights(2));
  auto a = ali_losses(l_q, l_p);
  EXPECT_NEAR(k.d_loss.item<double>(), a.d_loss.item<double>(), 1e-12);
  EXPECT_NEAR(k.g_loss.item<double>(), a.g_loss.item<double>(), 1e-12);
}

TEST(KWayLosses, ThreeClassesByHand) {
  // One row per tuple (B = 1), K = 3.
  double o[3][3] = {{1.0, 0.0, -1.0}, {0.0, 2.0, 0.0}, {0.5, 0.5, 0.5}};
  auto logits =
      torch::tensor({1.0, 0.0, -1.0, 0.0, 2.0, 0.0, 0.5, 0.5, 0.5}, torch::kDouble).view({3, 3});
  auto ce = [&](int i, int j) {
    double lse = std::log(std::exp(o[i][0]) + std::exp(o[i][1]) + std::exp(o[i][2]));
    return lse - o[i][j];
  };
  double d = ce(0, 0) + ce(1, 1) + ce(2, 2);
  double g = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (i != j) g += ce(i, j);
  auto l = kway_losses(logits, uniform_weights(3));
  EXPECT_NEAR(l.d_loss.item<double>(), d, 1e-12);
  EXPECT_NEAR(l.g_loss.item<double>(), g, 1e-12);
  EXPECT_NEAR(l.p_true[1].item<double>(), std::exp(-ce(1, 1)), 1e-12);
  EXPECT_NEAR(l.p_true[2].item<double>(), 1.0 / 3.0, 1e-12);
  // The released GALI-4 weighting halves only the first D term and scales only the first E/G term.
  auto w = released_weights("gali4", 4);
  EXPECT_DOUBLE_EQ(w.d[0], 0.5);
  EXPECT_DOUBLE_EQ(w.d[1], 1.0);
  EXPECT_DOUBLE_EQ(w.g[0][1], 1.0 / 6.0);
  EXPECT_DOUBLE_EQ(w.g[0][2], 1.0);
  EXPECT_DOUBLE_EQ(released_weights("gali-mix", 8).g[3][5], 1.0 / 28.0);
  EXPECT_DOUBLE_EQ(released_weights("gali-pretrain", 4).d[2], 0.5);
  auto w3 = uniform_weights(3);
  w3.d[0] = 0.5;
  w3.g[2][0] = 2.0;
  auto lw = kway_losses(logits, w3);
  EXPECT_NEAR(lw.d_loss.item<double>(), d - 0.5 * ce(0, 0), 1e-12);
  EXPECT_NEAR(lw.g_loss.item<double>(), g + ce(2, 0), 1e-12);
}

TEST(SemiLosses, KnownAnswers) {
  // Labelled: logits (0, 0) with label 1 -> log 2. Unlabelled: logits (0, 0), LSE = log 2.
  // Generated: logits (-inf-ish) -> LSE ~ log(2 e^-30) ~ 0 contribution; use (0, log 3) instead.
  auto l_lab = torch::zeros({1, 2}, torch::kDouble);
  auto y = torch::tensor({1}, torch::kLong);
  auto l_unl = torch::zeros({1, 2}, torch::kDouble);
  auto l_gen = torch::tensor({{0.0, std::log(3.0)}}, torch::kDouble);  // LSE = log 4
  auto s = semi_losses(l_lab, y, l_unl, l_gen);
  const double lse_u = std::log(2.0), lse_g = std::log(4.0);
  EXPECT_NEAR(s.lab.item<double>(), std::log(2.0), 1e-12);
  EXPECT_NEAR(s.unl.item<double>(), 0.5 * (softplus(lse_u) - lse_u) + 0.5 * softplus(lse_g), 1e-12);
  EXPECT_NEAR(s.d_loss.item<double>(), s.lab.item<double>() + s.unl.item<double>(), 1e-12);
  EXPECT_NEAR(s.g_loss.item<double>(), softplus(lse_u) + softplus(-lse_g), 1e-12);
  // P(real) of the unlabelled pair: sigmoid(LSE) = 2/3, so its D term is -log(2/3).
  EXPECT_NEAR(softplus(lse_u) - lse_u, -std::log(2.0 / 3.0), 1e-12);
}

TEST(SemiLabels, ClassBalancedSeededAndChecked) {
  auto labels = torch::arange(100, torch::kLong).remainder(4);
  auto rows = semi_labelled_rows(labels, 4, 10, 7);
  ASSERT_EQ(rows.size(0), 10);
  auto counts = torch::bincount(labels.index_select(0, rows), {}, 4);
  EXPECT_TRUE(torch::equal(counts, torch::tensor({3, 3, 2, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(rows, semi_labelled_rows(labels, 4, 10, 7)));
  EXPECT_FALSE(torch::equal(rows, semi_labelled_rows(labels, 4, 10, 8)));
  EXPECT_TRUE(contains(error_of([&] { semi_labelled_rows(labels, 4, 101, 0); }), "above the 100"));
  EXPECT_TRUE(
      contains(error_of([&] { semi_labelled_rows(labels, 4, 3, 0); }), "below the 4 classes"));
}

TEST(SemiLabels, EachRankTakesItsSliceOfTheGlobalLabelledBatch) {
  auto rows = torch::arange(1000, 1040, torch::kLong);  // 40 labelled images (dataset indices)
  // One process: a batch as large as the unlabelled one, from the labelled rows, seeded per step.
  auto one = semi_labelled_batch(rows, 8, 3, 5);
  ASSERT_EQ(one.size(0), 8);
  EXPECT_TRUE(torch::equal(one, semi_labelled_batch(rows, 8, 3, 5)));
  EXPECT_FALSE(torch::equal(one, semi_labelled_batch(rows, 8, 3, 6)));
  EXPECT_TRUE(torch::isin(one, rows).all().item<bool>());
  // Two ranks of batch 8: disjoint halves of what one process of batch 16 takes.
  auto r0 = semi_labelled_batch(rows, 8, 3, 5, 0, 2), r1 = semi_labelled_batch(rows, 8, 3, 5, 1, 2);
  EXPECT_EQ(std::get<0>(at::_unique(torch::cat({r0, r1}))).size(0), 16);
  EXPECT_TRUE(torch::equal(torch::cat({r0, r1}), semi_labelled_batch(rows, 16, 3, 5)));
  // Fewer labelled images than the global batch: each rank takes its share of them.
  EXPECT_EQ(semi_labelled_batch(rows, 100, 3, 5, 1, 2).size(0), 20);
  // Fewer labelled images than ranks: every rank takes them all.
  auto tiny = torch::arange(3, torch::kLong);
  EXPECT_EQ(semi_labelled_batch(tiny, 8, 3, 5, 3, 4).size(0), 3);
}

TEST(KWayDiscriminator, OutputShapesWithOneAndTwoSlots) {
  auto x = torch::rand({3, 1, 28, 28}), z = torch::randn({3, 64});
  AliModel ali(config_for("ali"));
  EXPECT_EQ(ali.discriminator->forward(x, z).sizes(), torch::IntArrayRef({3}));
  AliModel g4(config_for("gali4"));
  g4.train(false);
  EXPECT_EQ(g4.discriminator->forward(x, z).sizes(), torch::IntArrayRef({3, 4}));
  AliModel g8(config_for("gali8"));
  g8.train(false);
  auto x2 = torch::rand({3, 1, 28, 28}), z2 = torch::randn({3, 64});
  auto out = g8.discriminator->forward_slots({x, x2}, {z, z2});
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({3, 8}));
  // The slots are ordered: swapping the pairs changes D's answer.
  EXPECT_FALSE(torch::allclose(out, g8.discriminator->forward_slots({x2, x}, {z2, z})));
  // Both slots share one x-branch and one z-branch: only the joint net's input is wider.
  auto count = [](AliModel& m, const std::string& prefix) {
    int64_t n = 0;
    for (const auto& p : m.discriminator->named_parameters())
      if (p.key().rfind(prefix, 0) == 0) n += p.value().numel();
    return n;
  };
  EXPECT_EQ(count(g8, "dx"), count(g4, "dx"));
  EXPECT_EQ(count(g8, "dz"), count(g4, "dz"));
  EXPECT_GT(count(g8, "joint"), count(g4, "joint"));
  EXPECT_TRUE(contains(error_of([&] { g8.discriminator->forward(x, z); }), "2 (x, z) slot"));
  AliModel semi(config_for("semi", 10));
  semi.train(false);
  EXPECT_EQ(semi.discriminator->forward(x, z).sizes(), torch::IntArrayRef({3, 10}));
}

TEST(SpectralNorm, SigmaIsTheLargestSingularValue) {
  torch::manual_seed(3);
  SNConv2d conv(torch::nn::Conv2dOptions(6, 5, 3));
  {
    torch::NoGradGuard ng;
    conv->conv->weight.normal_(0, 1);
  }
  conv->train(true);
  auto x = torch::randn({2, 6, 5, 5});
  for (int i = 0; i < 200; ++i) conv->forward(x);  // one power iteration each
  auto w = conv->conv->weight.detach();
  double top = torch::linalg::svdvals(w.reshape({5, -1}), c10::nullopt)[0].item<double>();
  EXPECT_NEAR(conv->sn.sigma(w).item<double>(), top, 1e-4 * top);
  // The layer computes with W / sigma: spectral norm 1.
  auto w_sn = conv->sn.weight_sn(w, false);
  EXPECT_NEAR(torch::linalg::svdvals(w_sn.reshape({5, -1}), c10::nullopt)[0].item<double>(), 1.0,
              1e-4);
  // Evaluation mode runs no iteration: the same output twice, and u, v unchanged.
  conv->train(false);
  auto u = conv->named_buffers()["u"].clone();
  auto y1 = conv->forward(x), y2 = conv->forward(x);
  EXPECT_TRUE(torch::equal(y1, y2));
  EXPECT_TRUE(torch::equal(u, conv->named_buffers()["u"]));
  auto ref = torch::nn::functional::conv2d(
      x, w_sn, torch::nn::functional::Conv2dFuncOptions().bias(conv->conv->bias));
  EXPECT_TRUE(torch::allclose(y1, ref, 1e-5, 1e-6));
}

TEST(GaliTuples, EachClassGetsTheSpecifiedSamples) {
  AliModel m(config_for("gali4"));
  m.train(true);
  auto x = torch::rand({5, 1, 28, 28});
  auto s = cycle_sources(m, x);
  EXPECT_TRUE(s.x.is_same(x));
  for (const auto& img : {s.x_r, s.x_f, s.x_rf}) EXPECT_EQ(img.sizes(), x.sizes());
  for (const auto& z : {s.z_hat, s.z_hat_r, s.z, s.z_t})
    EXPECT_EQ(z.sizes(), torch::IntArrayRef({5, 64}));
  auto t4 = gali4_tuples(s);
  ASSERT_EQ(t4.size(), 4u);
  EXPECT_TRUE(t4[0].x1.is_same(s.x) && t4[0].z1.is_same(s.z_hat));
  EXPECT_TRUE(t4[1].x1.is_same(s.x) && t4[1].z1.is_same(s.z_hat_r));
  EXPECT_TRUE(t4[2].x1.is_same(s.x_f) && t4[2].z1.is_same(s.z));
  EXPECT_TRUE(t4[3].x1.is_same(s.x_rf) && t4[3].z1.is_same(s.z));
  for (const auto& t : t4) EXPECT_FALSE(t.x2.defined());
  auto t8 = gali8_tuples(s);
  ASSERT_EQ(t8.size(), 8u);
  // Spot checks of the table: class 1 = (x, z_hat_r, x_r, z_hat); class 6 = (x_rf, z, x_f, z_t).
  EXPECT_TRUE(t8[1].x1.is_same(s.x) && t8[1].z1.is_same(s.z_hat_r) && t8[1].x2.is_same(s.x_r) &&
              t8[1].z2.is_same(s.z_hat));
  EXPECT_TRUE(t8[6].x1.is_same(s.x_rf) && t8[6].z1.is_same(s.z) && t8[6].x2.is_same(s.x_f) &&
              t8[6].z2.is_same(s.z_t));
  // Every class pairs each image with a code of the other half of the same cycle: 4 image/code
  // combinations, each appearing in exactly two classes.
  for (const auto& t : t8) EXPECT_TRUE(t.x2.defined() && t.z2.defined());
  // The encoder sample feeding class 0 is the one the reconstruction was decoded from.
  EXPECT_TRUE(torch::allclose(s.x_r, m.decoder->forward(s.z_hat), 1e-5, 1e-6));
}

TEST(GaliGradients, DiscriminatorFromLdAndGeneratorsFromLge) {
  for (const std::string name : {"gali4", "gali8"}) {
    SCOPED_TRACE(name);
    AliModel m(config_for(name));
    m.train(true);
    auto x = test::synthetic_set(6, 1, 28)->float_images(torch::arange(6));
    auto obj = make_objective(m.config, small_options());
    auto d_params = m.discriminator->parameters(), g_params = ge_params(m);
    auto before = m.clone_to(torch::kCPU);  // the power iteration moves D's u, v on each forward
    Batch b;
    b.x = x;
    torch::manual_seed(21);
    obj->compute_gradients(m, b, {});
    auto got_d = grads_of(d_params), got_g = grads_of(g_params);

    // The same forward pass by hand (same noise, same u, v), then each loss's gradients separately.
    ASSERT_TRUE(m.copy_state_from(*before));
    torch::manual_seed(21);
    auto s = cycle_sources(m, x);
    auto logits = kway_logits(m, name == "gali4" ? gali4_tuples(s) : gali8_tuples(s), {}, 0.0);
    auto L = kway_losses(logits, uniform_weights(name == "gali4" ? 4 : 8));
    test::expect_routed(d_params, g_params, got_d, got_g, L.d_loss, L.g_loss);
  }
}

namespace {
// n random images whose labels cycle through 10 classes (every class present for the semi subset).
std::shared_ptr<const ImageSet> balanced_set(int n, uint64_t seed = 1) {
  ImageSet s = *test::synthetic_set(n, 1, 28, 10, seed);
  s.labels = torch::arange(n, torch::kLong).remainder(10);
  return std::make_shared<const ImageSet>(std::move(s));
}

// A trainer for any objective on synthetic labelled data (gali-pretrain's M: an untrained
// evaluation classifier written to `dir`).
std::unique_ptr<Trainer> trainer_for(const std::string& objective, const test::TempDir& dir,
                                     TrainOptions o = small_options()) {
  int features = 0;
  if (objective == "gali-pretrain") {
    Classifier c(1, 28, 10);
    save_classifier(dir / "m.pt", c, 0.1);
    o.feature_net = (dir / "m.pt").string();
    features = load_feature_net(o.feature_net, 1, 28, torch::kCPU).dim;
  }
  if (objective == "semi") o.labels = 20;
  auto t = std::make_unique<Trainer>(config_for(objective, 10, features), o, torch::kCPU);
  t->set_data(balanced_set(40));
  return t;
}
}  // namespace

TEST(Objectives, EveryObjectiveRoutesItsUpdates) {
  test::TempDir dir;
  for (const auto& name : objective_names()) {
    SCOPED_TRACE(name);
    auto t = trainer_for(name, dir);
    AliModel& m = t->model();
    const Objective& obj = t->objective();
    EXPECT_EQ(obj.name(), name);
    auto objective = make_objective(m.config, t->options());
    objective->prepare(std::make_shared<const ImageSet>(t->data()), t->options());
    Batch b;
    b.x = t->data().float_images(torch::arange(8));
    auto d_params = m.discriminator->parameters(), g_params = ge_params(m);
    for (Update u : {Update::Both, Update::DiscriminatorOnly, Update::GeneratorsOnly}) {
      test::clear_grads(d_params);
      test::clear_grads(g_params);
      StepContext ctx;
      ctx.update = u;
      auto out = objective->compute_gradients(m, b, ctx);
      EXPECT_EQ(out.metrics.size(), objective->metric_names().size());
      EXPECT_TRUE(std::isfinite(out.d_loss.item<double>()) &&
                  std::isfinite(out.g_loss.item<double>()));
      EXPECT_EQ(all_zero(grads_of(d_params)), u == Update::GeneratorsOnly);
      EXPECT_EQ(all_zero(grads_of(g_params)), u == Update::DiscriminatorOnly);
    }
    auto s = t->step();  // and one real step through the trainer
    EXPECT_EQ(s.metrics.size(), t->metric_names()->size());
    EXPECT_TRUE(std::isfinite(s.d_loss) && std::isfinite(s.g_loss));
  }
}

TEST(Objectives, NamedMetricsDescribeTheGame) {
  test::TempDir dir;
  auto g = trainer_for("gali4", dir);
  auto s = g->step();
  ASSERT_EQ(*s.metric_names,
            (std::vector<std::string>{"p_class0", "p_class1", "p_class2", "p_class3"}));
  for (double p : s.metrics) EXPECT_TRUE(p > 0 && p < 1);
  EXPECT_TRUE(std::isnan(s.metric("p_real")));
  auto a = trainer_for("ali", dir)->step();
  EXPECT_EQ(*a.metric_names, (std::vector<std::string>{"p_real", "p_fake", "rec"}));
  EXPECT_GT(a.metric("p_real"), 0.0);
  EXPECT_EQ(a.metric("rec"), 0.0);
  auto semi = trainer_for("semi", dir)->step();
  EXPECT_EQ(semi.metric_names->front(), "loss_lab");
  EXPECT_GE(semi.metric("acc_lab"), 0.0);
}

TEST(Objectives, AlternatingScheduleStepsOneSideAtATime) {
  EXPECT_EQ(update_for_step("simultaneous", 5), Update::Both);
  for (int s = 0; s < 12; ++s)
    EXPECT_EQ(update_for_step("alternate", s),
              s % 6 == 5 ? Update::GeneratorsOnly : Update::DiscriminatorOnly);
  test::TempDir dir;
  TrainOptions o = small_options();
  o.schedule = "alternate";
  auto t = trainer_for("gali8", dir, o);
  auto e0 = t->model().encoder->parameters()[0].clone();
  auto d0 = t->model().discriminator->parameters()[0].clone();
  t->step();  // a D step
  EXPECT_TRUE(torch::equal(e0, t->model().encoder->parameters()[0]));
  EXPECT_FALSE(torch::equal(d0, t->model().discriminator->parameters()[0]));
  for (int i = 0; i < 4; ++i) t->step();
  auto d5 = t->model().discriminator->parameters()[0].clone();
  t->step();  // step 6: the E/G step
  EXPECT_FALSE(torch::equal(e0, t->model().encoder->parameters()[0]));
  EXPECT_TRUE(torch::equal(d5, t->model().discriminator->parameters()[0]));
}

TEST(Objectives, InstanceNoiseAnnealsPerEpoch) {
  EXPECT_EQ(instance_noise_at(0.0, 100, 10, 0), 0.0);
  EXPECT_DOUBLE_EQ(instance_noise_at(0.1, 0, 10, 50), 0.1);   // no horizon: constant
  EXPECT_DOUBLE_EQ(instance_noise_at(0.1, 100, 10, 0), 0.1);  // epoch 0 of 10
  EXPECT_DOUBLE_EQ(instance_noise_at(0.1, 100, 10, 9), 0.1);
  EXPECT_DOUBLE_EQ(instance_noise_at(0.1, 100, 10, 35), 0.07);  // epoch 3 of 10
  EXPECT_DOUBLE_EQ(instance_noise_at(0.1, 100, 10, 99), 0.01);
  EXPECT_EQ(instance_noise_at(0.1, 100, 10, 100), 0.0);
}

namespace {
void expect_same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& q : ba) EXPECT_TRUE(torch::equal(q.value(), bb[q.key()])) << q.key();
}
}  // namespace

TEST(Objectives, FittingTheEncoderChangesTheEncoderAlone) {
  test::TempDir dir;
  TrainOptions o = small_options();
  o.rec_weight = 5;
  o.lr = 1e-3;
  // A decoder to fit to: a fresh one draws the same image from every code in eval mode (its
  // BatchNorm statistics are the initial ones), so it trains a little first.
  auto base = trainer_for("ali", dir, o);
  for (int i = 0; i < 30; ++i) base->step();
  o.fit_encoder = true;
  auto t = trainer_for("ali", dir, o);
  t->init_weights_from(base->model());
  AliModel& m = t->model();
  EXPECT_EQ(*t->metric_names(), (std::vector<std::string>{"rec"}));  // no D: no p_real, p_fake
  auto x = t->data().float_images(torch::arange(16));
  // The reconstruction error of 16 training images as inference reads it (eval mode, the means).
  auto error = [&] {
    torch::NoGradGuard ng;
    m.train(false);
    double e = (m.decoder->forward(m.encoder->forward(x).mu) - x).abs().mean().item<double>();
    m.train(true);
    return e;
  };
  const double before_error = error();
  auto before = m.clone_to(torch::kCPU);
  for (int i = 0; i < 25; ++i) {
    auto s = t->step();
    EXPECT_EQ(s.d_loss, 0.0);
    EXPECT_GT(s.metric("rec"), 0.0);
  }
  EXPECT_TRUE(m.decoder->is_training());  // the step's eval mode is the decoder's only for the step
  {  // also when the step throws: images the encoder cannot take
    auto fit = make_objective(m.config, t->options());
    Batch bad;
    bad.x = torch::rand({4, 1, 20, 20});
    EXPECT_ANY_THROW(fit->compute_gradients(m, bad, StepContext{}));
    EXPECT_TRUE(m.decoder->is_training());
  }
  // Neither the decoder (weights or BatchNorm statistics) nor D moved; the encoder did, towards
  // codes this decoder draws the images from.
  expect_same_state(*m.decoder, *before->decoder);
  expect_same_state(*m.discriminator, *before->discriminator);
  auto e_now = m.encoder->parameters(), e_was = before->encoder->parameters();
  int moved = 0;
  for (size_t i = 0; i < e_now.size(); ++i) moved += !torch::equal(e_now[i], e_was[i]);
  EXPECT_EQ(moved, int(e_now.size()));
  EXPECT_LT(error(), before_error);
  t->save(dir / "fit.ali");  // a resumed run goes on fitting the encoder alone
  auto resumed = Trainer::resume(dir / "fit.ali", torch::kCPU);
  EXPECT_TRUE(resumed->options().fit_encoder);
  // ... unless told to play the whole game again (the explorer's Train): D and the decoder move.
  resumed->set_fit_encoder(false);
  resumed->set_data(std::make_shared<const ImageSet>(t->data()));
  EXPECT_EQ(*resumed->metric_names(), (std::vector<std::string>{"p_real", "p_fake", "rec"}));
  auto was = resumed->model().clone_to(torch::kCPU);
  EXPECT_GT(resumed->step().metric("p_real"), 0.0);
  EXPECT_FALSE(torch::equal(resumed->model().decoder->parameters()[0], was->decoder->parameters()[0]));
  EXPECT_FALSE(torch::equal(resumed->model().discriminator->parameters()[0],
                            was->discriminator->parameters()[0]));
  // ... and back: the game's gradients left on the decoder and D do not step them again.
  resumed->set_fit_encoder(true);
  was = resumed->model().clone_to(torch::kCPU);
  resumed->step();
  expect_same_state(*resumed->model().decoder, *was->decoder);
  expect_same_state(*resumed->model().discriminator, *was->discriminator);

  // Refused where it cannot fit anything, or another objective's game would be skipped.
  auto refusal = [](const ModelConfig& c, const TrainOptions& opts) {
    try {
      make_objective(c, opts);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  TrainOptions no_rec = o;
  no_rec.rec_weight = 0;
  EXPECT_NE(refusal(m.config, no_rec).find("reconstruction weight > 0"), std::string::npos);
  EXPECT_NE(refusal(config_for("gali4"), no_rec).find("fitting the encoder alone applies to objective ali"),
            std::string::npos);
  TrainOptions aux = o;
  aux.aux_weight = 1;
  EXPECT_NE(refusal(m.config, aux).find("have nothing to train"), std::string::npos);
}

TEST(Objectives, CheckpointKeepsTheObjectiveAndResumeEqualsAnUninterruptedRun) {
  test::TempDir dir;
  TrainOptions o = small_options();
  o.instance_noise = 0.1;
  o.noise_steps = 8;
  o.schedule = "alternate";
  o.weighting = "released";
  auto data = test::synthetic_set(40, 1, 28);  // 5 batches per epoch: the run crosses an epoch
  const int K = 8;
  Trainer straight(config_for("gali4"), o, torch::kCPU);
  straight.set_data(data);
  for (int i = 0; i < K; ++i) straight.step();
  {
    Trainer first(config_for("gali4"), o, torch::kCPU);
    first.set_data(data);
    for (int i = 0; i < K / 2; ++i) first.step();
    first.save(dir / "half.ali");
  }
  auto h = read_checkpoint_header(dir / "half.ali");
  EXPECT_EQ(h.config.objective, "gali4");
  EXPECT_EQ(h.config.disc_outputs, 4);
  EXPECT_TRUE(h.config.spectral_norm);
  EXPECT_EQ(h.options.schedule, "alternate");
  EXPECT_EQ(h.options.weighting, "released");
  EXPECT_DOUBLE_EQ(h.options.instance_noise, 0.1);
  torch::manual_seed(12345);  // whatever happened in between must not matter
  auto resumed = Trainer::resume(dir / "half.ali", torch::kCPU);
  EXPECT_EQ(resumed->objective().name(), "gali4");
  resumed->set_data(data);
  for (int i = 0; i < K / 2; ++i) resumed->step();
  expect_same_state(*straight.model().encoder, *resumed->model().encoder);
  expect_same_state(*straight.model().decoder, *resumed->model().decoder);
  expect_same_state(*straight.model().discriminator, *resumed->model().discriminator);
  // load_model builds the K-way, spectrally normalised D from the header alone.
  auto m = load_model(dir / "half.ali", torch::kCPU);
  EXPECT_EQ(m->config.objective, "gali4");
  EXPECT_EQ(m->discriminator->forward(torch::rand({2, 1, 28, 28}), torch::randn({2, 64})).size(1),
            4);
}

TEST(Objectives, FilesFromBeforeObjectivesReadAsAli) {
  nlohmann::json j = ModelConfig{};
  for (const char* k :
       {"objective", "disc_outputs", "disc_slots", "disc_features", "spectral_norm"})
    j.erase(k);
  auto c = j.get<ModelConfig>();
  EXPECT_EQ(c.objective, "ali");
  EXPECT_EQ(c.disc_outputs, 1);
  EXPECT_FALSE(c.spectral_norm);
  nlohmann::json o = TrainOptions{};
  o.erase("schedule");
  o.erase("weighting");
  EXPECT_EQ(o.get<TrainOptions>().schedule, "simultaneous");
}

TEST(Objectives, BadInputIsRefusedWithAReason) {
  ModelConfig c;
  auto unknown = error_of([&] { configure_objective(c, "wgan", {}); });
  EXPECT_TRUE(contains(unknown, "unknown objective 'wgan'")) << unknown;
  EXPECT_TRUE(contains(unknown, "gali4") && contains(unknown, "gali-mix") &&
              contains(unknown, "semi"))
      << unknown;
  EXPECT_TRUE(contains(error_of([&] { configure_objective(c, "semi", {}); }), "labelled dataset"));
  EXPECT_TRUE(
      contains(error_of([&] { configure_objective(c, "gali-pretrain", {}); }), "feature network"));

  // semi on data without labels, or with more labels asked than there are images.
  TrainOptions o = small_options();
  o.labels = 20;
  Trainer t(config_for("semi"), o, torch::kCPU);
  ImageSet unlabelled = *test::synthetic_set(40, 1, 28);
  unlabelled.labels = torch::Tensor();
  auto msg = error_of([&] { t.set_data(std::make_shared<const ImageSet>(unlabelled)); });
  EXPECT_TRUE(contains(msg, "needs a labelled dataset")) << msg;
  o.labels = 41;
  Trainer t2(config_for("semi"), o, torch::kCPU);
  msg = error_of([&] { t2.set_data(test::synthetic_set(40, 1, 28)); });
  EXPECT_TRUE(contains(msg, "above the 40")) << msg;
  o.labels = 0;
  EXPECT_TRUE(contains(error_of([&] { Trainer(config_for("semi"), o, torch::kCPU); }), "--labels"));

  TrainOptions bad = small_options();
  bad.schedule = "sometimes";
  EXPECT_TRUE(contains(error_of([&] { Trainer(config_for("gali4"), bad, torch::kCPU); }),
                       "unknown schedule"));
  bad = small_options();
  bad.weighting = "released";
  EXPECT_TRUE(
      contains(error_of([&] { Trainer(config_for("ali"), bad, torch::kCPU); }), "GALI objectives"));
  bad = small_options();
  bad.rec_weight = 1;
  EXPECT_TRUE(contains(error_of([&] { Trainer(config_for("gali4"), bad, torch::kCPU); }),
                       "reconstruction weight"));
  // A config whose D does not fit its objective (a hand-edited header).
  ModelConfig mismatched = config_for("gali4");
  mismatched.disc_outputs = 8;
  EXPECT_TRUE(
      contains(error_of([&] { make_objective(mismatched, small_options()); }), "does not fit"));
}

TEST(Inpaint, KeepsEveryPixelOutsideTheHole) {
  AliModel m(config_for("gali-mix"));
  auto x = test::synthetic_set(3, 1, 28)->float_images(torch::arange(3));
  Rect hole{5, 7, 10, 6};
  auto out = inpaint(m, x, hole);
  ASSERT_EQ(out.sizes(), x.sizes());
  auto mask = torch::zeros({3, 1, 28, 28}, torch::kBool);
  mask.slice(2, 7, 13).slice(3, 5, 15).fill_(true);
  EXPECT_TRUE(torch::equal(out.masked_select(~mask), x.masked_select(~mask)));
  // Inside: G(mu(E(x with the hole filled))), whatever the hole held before.
  auto masked = x.clone();
  masked.slice(2, 7, 13).slice(3, 5, 15).fill_(kHoleValue);
  auto g = reconstruct(m, masked);
  EXPECT_TRUE(torch::allclose(out.masked_select(mask), g.masked_select(mask)));
  auto y = x.clone();
  y.slice(2, 7, 13).slice(3, 5, 15).fill_(0.5f);
  EXPECT_TRUE(torch::equal(inpaint(m, y, hole), out));
  EXPECT_TRUE(contains(error_of([&] {
                         inpaint(m, x, Rect{20, 0, 10, 5});
                       }),
                       "does not lie inside"));
  EXPECT_TRUE(contains(error_of([&] { parse_rect("1,2,3"); }), "X,Y,W,H"));
  EXPECT_EQ(parse_rect("1,2,3,4").h, 4);
}

// A model not trained on holes: the hole starts as its mean sample, then takes its own
// reconstruction `rounds` times; whatever the hole held, and with refinement fitting the known
// pixels alone.
TEST(Inpaint, OtherModelsFillTheHoleWithTheirMeanSampleThenTheirReconstruction) {
  torch::manual_seed(2);
  AliModel m(config_for("ali"));
  {
    // Weights of a trained scale: the initial N(0, 0.01) ones make G nearly blind to z.
    torch::NoGradGuard ng;
    for (auto* net : std::vector<torch::nn::Module*>{m.encoder.get(), m.decoder.get()})
      for (auto& p : net->parameters())
        if (p.dim() > 1) p.mul_(15.0);
  }
  auto x = test::synthetic_set(3, 1, 28)->float_images(torch::arange(3));
  auto mask = torch::zeros({3, 1, 28, 28});
  mask.slice(2, 7, 13).slice(3, 5, 15).fill_(1.0f);
  InpaintOptions o;
  o.samples = 3;
  o.rounds = 2;
  o.seed = 11;
  auto out = inpaint_masked(m, x, mask, {}, o);
  // The procedure, spelled out.
  torch::Tensor want;
  {
    torch::NoGradGuard ng;
    m.train(false);
    auto fill = torch::zeros_like(x);
    for (int k = 0; k < 3; ++k) fill += m.decoder->forward(seeded_normal(3, m.config.nlat, 11 + k));
    auto z = m.encoder->forward(x * (1 - mask) + fill / 3 * mask).mu;
    for (int r = 0; r < 2; ++r) z = m.encoder->forward(x * (1 - mask) + m.decoder->forward(z) * mask).mu;
    want = m.decoder->forward(z);
  }
  auto in = mask.to(torch::kBool).expand_as(x);
  EXPECT_TRUE(torch::allclose(out.masked_select(in), want.masked_select(in), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(out.masked_select(~in), x.masked_select(~in)));
  // Not the GALI-mix path: that one encodes the constant hole once.
  auto once = m.decoder->forward(m.encoder->forward(fill_holes(x, mask)).mu).detach();
  EXPECT_FALSE(torch::allclose(out.masked_select(in), once.masked_select(in), 1e-4, 1e-5));
  // What the hole held does not matter, with or without refinement, and refinement on the known
  // pixels changes the fill.
  auto y = x.clone();
  y.slice(2, 7, 13).slice(3, 5, 15).fill_(0.9f);
  EXPECT_TRUE(torch::equal(inpaint_masked(m, y, mask, {}, o), out));
  o.refine_steps = 5;
  auto refined = inpaint_masked(m, x, mask, {}, o);
  EXPECT_TRUE(torch::equal(inpaint_masked(m, y, mask, {}, o), refined));
  EXPECT_FALSE(torch::equal(refined, out));
  EXPECT_TRUE(torch::equal(refined.masked_select(~in), x.masked_select(~in)));
  // A hole over a whole image leaves nothing to refine on: that image keeps its unrefined fill (no
  // error), the others are refined.
  auto whole = mask.clone();
  whole[1].fill_(1.0f);
  auto refined_whole = inpaint_masked(m, x, whole, {}, o);
  o.refine_steps = 0;
  auto unrefined_whole = inpaint_masked(m, x, whole, {}, o);
  EXPECT_TRUE(torch::equal(refined_whole[1], unrefined_whole[1]));
  EXPECT_FALSE(torch::equal(refined_whole[0], unrefined_whole[0]));
  EXPECT_FALSE(torch::equal(refined_whole[2], unrefined_whole[2]));
  auto alone = inpaint_masked(m, x.narrow(0, 1, 1), whole.narrow(0, 1, 1), {}, o);
  o.refine_steps = 5;
  EXPECT_TRUE(torch::equal(inpaint_masked(m, x.narrow(0, 1, 1), whole.narrow(0, 1, 1), {}, o), alone));
  o.samples = 0;
  EXPECT_THROW(inpaint_masked(m, x, mask, {}, o), Error);
}

// Refinement with a mask fits the known pixels alone: its MSE is theirs, and a hole's content
// changes nothing.
TEST(Inpaint, RefinementOnKnownPixelsIgnoresTheHole) {
  torch::manual_seed(4);
  AliModel m(config_for("ali"));
  auto x = test::synthetic_set(2, 1, 28)->float_images(torch::arange(2));
  auto known = torch::ones({2, 1, 28, 28});
  known.slice(2, 0, 10).fill_(0.0f);
  auto z0 = torch::randn({2, m.config.nlat});
  RefineOptions o;
  o.steps = 3;
  o.known = known;
  auto a = refine_codes(m, x, z0, {}, o);
  auto y = x.clone();
  y.slice(2, 0, 10).fill_(1.0f);
  auto b = refine_codes(m, y, z0, {}, o);
  EXPECT_TRUE(torch::equal(a.z, b.z));
  torch::NoGradGuard ng;
  auto g = m.decoder->forward(a.z);
  EXPECT_NEAR(a.mse.back(), ((g - x).pow(2) * known).sum().item<double>() / known.sum().item<double>(), 1e-6);
  o.known = torch::zeros({2, 1, 28, 28});
  EXPECT_THROW(refine_codes(m, x, z0, {}, o), Error);
  o.known = torch::ones({2, 1, 14, 14});
  EXPECT_THROW(refine_codes(m, x, z0, {}, o), Error);
}

TEST(Inpaint, RandomRectanglesScaleWithTheImage) {
  torch::manual_seed(1);
  auto r = random_rectangles(500, 64);
  auto w = r.select(1, 2), h = r.select(1, 3);
  EXPECT_EQ(w.min().item<int64_t>(), 8);
  EXPECT_EQ(w.max().item<int64_t>(), 32);
  EXPECT_EQ(h.max().item<int64_t>(), 32);
  EXPECT_FALSE(torch::equal(w, h));  // drawn independently
  EXPECT_TRUE((r.select(1, 0) + w).le(64).all().item<bool>());
  EXPECT_TRUE((r.select(1, 1) + h).le(64).all().item<bool>());
  auto mask = rectangle_mask(r.narrow(0, 0, 4), 64, 64);
  EXPECT_TRUE(torch::equal(mask.sum({1, 2, 3}).to(torch::kLong), (w * h).narrow(0, 0, 4)));
}

TEST(SemiEvaluation, DiscriminatorAccuracyBesideTheProbeOnTheSameLabels) {
  test::TempDir dir;
  auto t = trainer_for("semi", dir);
  t->step();
  auto data = balanced_set(40);
  auto j = evaluate_semi(t->model(), t->options(), *data, *balanced_set(30, 9));
  EXPECT_EQ(j["labels"].get<int64_t>(), 20);
  for (const char* k : {"discriminator_accuracy", "linear_probe_same_labels_accuracy"}) {
    double v = j[k].get<double>();
    EXPECT_TRUE(v >= 0 && v <= 1) << k;
  }
  auto pred = semi_classify(t->model(), data->float_images(torch::arange(5)));
  EXPECT_EQ(pred.size(0), 5);
  EXPECT_TRUE(pred.lt(10).all().item<bool>());
}

TEST(FeatureNet, FrozenButPassesGradientsToItsInput) {
  test::TempDir dir;
  Classifier c(1, 28, 10);
  save_classifier(dir / "m.pt", c, 0.5);
  auto net = load_feature_net((dir / "m.pt").string(), 1, 28, torch::kCPU);
  EXPECT_EQ(net.dim, 128);
  auto x = torch::rand({2, 1, 28, 28}).requires_grad_();
  auto f = net.forward(x);
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({2, 128}));
  f.sum().backward();
  ASSERT_TRUE(x.grad().defined());  // G gets gradients through M ...
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(net.forward(x), f));  // ... and M is deterministic (evaluation mode)

  // Any TorchScript module taking images and returning B x D.
  torch::jit::Module m("M");
  m.register_parameter("w", torch::randn({784, 5}), false);
  m.define("def forward(self, x):\n  return torch.mm(x.flatten(1), self.w)\n");
  m.save((dir / "m.ts").string());
  auto ts = load_feature_net((dir / "m.ts").string(), 1, 28, torch::kCPU);
  EXPECT_EQ(ts.dim, 5);
  auto y = torch::rand({3, 1, 28, 28}).requires_grad_();
  ts.forward(y).sum().backward();
  EXPECT_TRUE(y.grad().defined());

  EXPECT_TRUE(contains(error_of([&] { load_feature_net((dir / "m.pt").string(), 3, 32, torch::kCPU); }), "takes 1x28"));
  test::write_file(dir / "junk.pt", "not a network");
  EXPECT_TRUE(contains(error_of([&] { load_feature_net((dir / "junk.pt").string(), 1, 28, torch::kCPU); }),
                       "neither an evaluation classifier nor a TorchScript module"));
}
