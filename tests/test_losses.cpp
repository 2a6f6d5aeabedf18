// The ALI losses on hand-computed logits, and the simultaneous update's gradient routing.
#include <gtest/gtest.h>

#include <cmath>

#include "ali/batch_statistics.h"
#include "ali/evaluation.h"
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
  auto with = compute_ali_gradients(m, x, {}, {.rec = 10.0});
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

TEST(Losses, AuxiliaryLossIsTheSummedBinaryCrossEntropyPerRow) {
  auto logits = torch::tensor({{0.0, 2.0}, {-1.0, 3.0}}, torch::kDouble);
  auto y = torch::tensor({{1.0, 0.0}, {0.0, 1.0}}, torch::kDouble);
  double want = (softplus(-0.0) + softplus(2.0) + softplus(-1.0) + softplus(-3.0)) / 2;
  EXPECT_NEAR(aux_loss(logits, y).item<double>(), want, 1e-12);
  EXPECT_THROW(aux_loss(logits, y.narrow(1, 0, 1)), c10::Error);
}

namespace {
// A class-conditional fmnist28 model whose D has the auxiliary classifier, 6 images and their
// one-hot classes.
struct AuxCase {
  ModelConfig config = [] {
    ModelConfig c;
    c.arch = "fmnist28";
    c.attributes = with_condition_attributes(*test::synthetic_set(6, 1, 28)).attribute_names;
    c.aux_classifier = true;
    return c;
  }();
  AliModel m{config};
  std::shared_ptr<const ImageSet> data = std::make_shared<const ImageSet>(
      with_condition_attributes(*test::synthetic_set(6, 1, 28)));
  torch::Tensor x = data->float_images(torch::arange(6)), y = data->attributes;
  AuxCase() { m.train(true); }
};

// n images of two classes told apart by brightness, the classes as attributes (dark, bright).
std::shared_ptr<const ImageSet> bright_dark_set(int n) {
  ImageSet set;
  set.name = "bright";
  set.labels = torch::arange(n) % 2;
  set.images = (set.labels.view({n, 1, 1, 1}) * 150 + 40 +
                torch::randint(0, 40, {n, 1, 28, 28}, torch::kLong))
                   .to(torch::kUInt8);
  set.class_names = {"dark", "bright"};
  return std::make_shared<const ImageSet>(with_condition_attributes(set));
}

// 60 steps of a small run of o (batch 16, lr 5e-4, seed 4) on data.
std::unique_ptr<Trainer> sixty_steps(const ModelConfig& c, TrainOptions o,
                                     std::shared_ptr<const ImageSet> data) {
  o.batch = 16;
  o.lr = 5e-4;
  o.seed = 4;
  auto t = std::make_unique<Trainer>(c, o, torch::kCPU);
  t->set_data(std::move(data));
  for (int i = 0; i < 60; ++i) t->step();
  return t;
}

bool logs_metric(Trainer& t, const std::string& name);

// sixty_steps; when `metric` is named (a run with the added term), checks that the run logs it and
// saves the run to `file`, for the caller to check the term's weight was kept.
std::unique_ptr<Trainer> sixty_steps(const ModelConfig& c, const TrainOptions& o,
                                     std::shared_ptr<const ImageSet> data, const std::string& metric,
                                     const std::filesystem::path& file) {
  auto t = sixty_steps(c, o, std::move(data));
  if (!metric.empty()) {
    EXPECT_TRUE(logs_metric(*t, metric)) << metric;
    t->save(file);
  }
  return t;
}

bool logs_metric(Trainer& t, const std::string& name) {
  const auto names = *t.metric_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Which networks an added term moves: one step of the game with `base`'s terms and one with
// `terms`, from the same noise, and whether E's, G's and D's gradients differ between them.
struct TermGradients {
  GradientResult plain, with;
  bool moves_e = false, moves_g = false, moves_d = false;
};
TermGradients with_and_without(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                               const AliTerms& base, const AliTerms& terms, uint64_t seed) {
  auto e = m.encoder->parameters(), g = m.decoder->parameters(), d = m.discriminator->parameters();
  TermGradients t;
  torch::manual_seed(seed);
  t.plain = compute_ali_gradients(m, x, y, base);
  auto plain_e = grads_of(e), plain_g = grads_of(g), plain_d = grads_of(d);
  torch::manual_seed(seed);  // the same noise: only the added term differs
  t.with = compute_ali_gradients(m, x, y, terms);
  t.moves_e = !all_close(grads_of(e), plain_e);
  t.moves_g = !all_close(grads_of(g), plain_g);
  t.moves_d = !all_close(grads_of(d), plain_d);
  return t;
}

// The message a trainer of (c, o) is refused with, or "" when it is not.
std::string refusal_of(const ModelConfig& c, const TrainOptions& o) {
  try {
    Trainer t(c, o, torch::kCPU);
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::string();
}
}  // namespace

TEST(Losses, AuxiliaryClassifierTeachesDTheAttributesAndAsksTheDecoderToShowThem) {
  AuxCase k;
  auto& m = k.m;
  auto aux_params = m.discriminator->named_parameters(true);
  ASSERT_NE(aux_params.find("aux.weight"), nullptr);
  const torch::Tensor aux_w = aux_params["aux.weight"];
  auto enc = m.encoder->parameters(), dec = m.decoder->parameters();
  EXPECT_EQ(m.discriminator->classify(k.x).sizes(), (torch::IntArrayRef{6, 10}));

  torch::manual_seed(3);
  auto plain = compute_ali_gradients(m, k.x, k.y);
  EXPECT_FALSE(plain.aux_real.defined());
  auto plain_enc = grads_of(enc), plain_dec = grads_of(dec);
  EXPECT_EQ(aux_w.grad().defined() ? aux_w.grad().abs().sum().item<double>() : 0.0, 0.0);

  torch::manual_seed(3);  // the same noise: only the auxiliary terms differ
  auto with = compute_ali_gradients(m, k.x, k.y, {.aux = 2.0});
  ASSERT_TRUE(with.aux_real.defined() && with.aux_fake.defined());
  // Before training every logit is near 0: about log 2 per attribute.
  EXPECT_NEAR(with.aux_real.item<double>(), 10 * std::log(2.0), 0.5);
  EXPECT_NEAR(with.losses.d_loss.item<double>(), plain.losses.d_loss.item<double>(), 1e-6);
  EXPECT_GT(aux_w.grad().abs().sum().item<double>(), 0.0);  // D's classifier learns
  EXPECT_TRUE(all_close(grads_of(enc), plain_enc));  // G(z, y) does not depend on the encoder
  EXPECT_FALSE(all_close(grads_of(dec), plain_dec));  // the decoder is asked to show y

  // Without the classifier the weight is refused rather than ignored.
  ModelConfig c = k.config;
  c.aux_classifier = false;
  AliModel bare(c);
  EXPECT_THROW(compute_ali_gradients(bare, k.x, k.y, {.aux = 1.0}), c10::Error);
}

TEST(Losses, AuxiliaryClassifierLearnsAttributesItCanSee) {
  // Two classes told apart by brightness: D's classifier must learn to read them.
  auto data = bright_dark_set(64);
  ModelConfig c;
  c.arch = "fmnist28";
  c.attributes = data->attribute_names;
  c.aux_classifier = true;
  TrainOptions o;
  o.batch = 16;
  o.lr = 5e-4;
  o.aux_weight = 1.0;
  Trainer t(c, o, torch::kCPU);
  t.set_data(data);
  const auto names = *t.metric_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "aux_real"), names.end());
  auto first = t.step();
  for (int i = 0; i < 40; ++i) t.step();
  auto last = t.step();
  EXPECT_LT(last.metric("aux_real"), 0.5 * first.metric("aux_real"));
  // In training mode, as the objective reads it (D's BatchNorm running statistics are taken over
  // real and generated images together, so evaluation mode is not what training taught).
  torch::NoGradGuard ng;
  auto x = data->float_images(torch::arange(64));
  auto pred = t.model().discriminator->classify(x).argmax(1);
  EXPECT_GT(pred.eq(data->labels).to(torch::kFloat).mean().item<double>(), 0.9);

  // Saved, D's image branch normalises with the training images' statistics, so the model loaded
  // for inference (eval mode, as read_attributes and the explorer run it) reads them as training
  // did; the save leaves the trainer's own statistics and modes as they were.
  std::vector<torch::Tensor> live;
  for (const auto& b : all_tensors(t.model(), /*buffers=*/true)) live.push_back(b.clone());
  test::TempDir dir;
  t.save(dir / "a.ali");
  auto after = all_tensors(t.model(), true);
  for (size_t i = 0; i < live.size(); ++i) EXPECT_TRUE(torch::equal(live[i], after[i])) << i;
  EXPECT_TRUE(t.model().discriminator->is_training());
  EXPECT_TRUE(t.model().encoder->is_training());
  CheckpointHeader h;
  auto loaded = load_model(dir / "a.ali", torch::kCPU, &h);
  EXPECT_EQ(h.extra.at("reading_statistics_refit").at("batches"), 1);
  auto eval_pred = loaded->discriminator->classify(x).argmax(1);
  EXPECT_GT(eval_pred.eq(data->labels).to(torch::kFloat).mean().item<double>(), 0.9);
  // What the file holds is refit_batch_norm's reading-only refit of the trained model: D's
  // statistics refit, E's and G's as trained.
  auto copy = t.model().clone_to(torch::kCPU);
  BatchNormRefit r;
  r.batch = 64;
  r.batches = 1;
  r.seed = uint64_t(t.step_count());
  r.reading_only = true;
  refit_batch_norm(*copy, *data, r);
  auto want = all_tensors(*copy, true), got = all_tensors(*loaded, true);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::equal(want[i], got[i])) << i;
  const size_t eg = t.model().encoder->buffers().size() + t.model().decoder->buffers().size();
  for (size_t i = 0; i < eg; ++i) EXPECT_TRUE(torch::equal(live[i], got[i])) << i;
  // A model that does not read attributes has nothing of the kind to refit.
  ModelConfig plain = c;
  plain.aux_classifier = false;
  AliModel p(plain);
  EXPECT_NE(test::error_of([&] { refit_batch_norm(p, *data, r); }).find("needs a model that reads"),
            std::string::npos);
}

TEST(Losses, AuxiliaryWeightAndClassifierAreKeptInTheCheckpoint) {
  test::TempDir dir;
  AuxCase k;
  TrainOptions o;
  o.batch = 3;
  o.aux_weight = 0.5;
  Trainer t(k.config, o, torch::kCPU);
  t.set_data(k.data);
  t.step();
  t.save(dir / "a.ali");
  auto r = Trainer::resume(dir / "a.ali", torch::kCPU);
  EXPECT_DOUBLE_EQ(r->options().aux_weight, 0.5);
  EXPECT_TRUE(r->model().config.aux_classifier);
  EXPECT_TRUE(r->model().discriminator->has_aux_classifier());
  // An unconditional model cannot have one; an auxiliary weight needs one.
  ModelConfig u;
  u.arch = "fmnist28";
  u.aux_classifier = true;
  EXPECT_THROW(u.resolved(), Error);
  ModelConfig no_aux = k.config;
  no_aux.aux_classifier = false;
  EXPECT_THROW(Trainer(no_aux, o, torch::kCPU), Error);
}

TEST(Losses, FineTuningTakesEveryMatchingWeightAndLeavesNewPartsFresh) {
  AuxCase k;
  ModelConfig plain = k.config;
  plain.aux_classifier = false;
  TrainOptions o;
  o.batch = 3;
  Trainer a(plain, o, torch::kCPU);
  a.set_data(k.data);
  a.step();  // trained weights and BatchNorm statistics, unlike a fresh model's

  o.aux_weight = 1.0;
  o.seed = 9;
  Trainer b(k.config, o, torch::kCPU);
  auto fresh = b.init_weights_from(a.model(), {{"file", "a.ali"}, {"step", 1}});
  EXPECT_EQ(fresh, (std::vector<std::string>{"discriminator aux.weight", "discriminator aux.bias"}));
  auto same = [](torch::nn::Module& x, torch::nn::Module& y) {
    auto yp = y.named_parameters(true), yb = y.named_buffers(true);
    for (auto& p : x.named_parameters(true))
      if (!torch::equal(p.value(), yp[p.key()])) return false;
    for (auto& p : x.named_buffers(true))
      if (!torch::equal(p.value(), yb[p.key()])) return false;
    return true;
  };
  EXPECT_TRUE(same(*a.model().encoder, *b.model().encoder));
  EXPECT_TRUE(same(*a.model().decoder, *b.model().decoder));
  for (auto& p : a.model().discriminator->named_parameters(true))
    EXPECT_TRUE(torch::equal(p.value(), b.model().discriminator->named_parameters(true)[p.key()]))
        << p.key();
  b.set_data(k.data);  // the decoder's output bias came with the weights: not re-initialised
  EXPECT_TRUE(same(*a.model().decoder, *b.model().decoder));
  b.step();
  EXPECT_THROW(b.init_weights_from(a.model()), Error);  // only before the first step
  // Its checkpoints (and runs resumed from them) say what it started from.
  test::TempDir dir;
  b.save(dir / "b.ali");
  EXPECT_EQ(read_checkpoint_header(dir / "b.ali").extra.at("started_from").at("file"), "a.ali");
  auto r = Trainer::resume(dir / "b.ali", torch::kCPU);
  r->save(dir / "r.ali");
  EXPECT_EQ(read_checkpoint_header(dir / "r.ali").extra.at("started_from").at("step"), 1);
  a.save(dir / "a.ali");
  EXPECT_FALSE(read_checkpoint_header(dir / "a.ali").extra.contains("started_from"));
  // ali info and the explorer's Model panel say so beside the step.
  EXPECT_EQ(describe_steps(read_checkpoint_header(dir / "r.ali")),
            "1 (fine-tuned from a.ali, its step 1)");
  EXPECT_EQ(describe_steps(read_checkpoint_header(dir / "a.ali")), "1");
  EXPECT_EQ(describe_origin({{"started_from", {{"file", 3}, {"step", "x"}}}}),
            "fine-tuned from another model");
  EXPECT_EQ(describe_origin({{"started_from", "a.ali"}}), "");
  EXPECT_EQ(describe_origin(nlohmann::json::array()), "");

  ModelConfig other = plain;
  other.nlat = 32;
  Trainer c(other, TrainOptions{}, torch::kCPU);
  EXPECT_THROW(c.init_weights_from(a.model()), Error);
}

TEST(Losses, BatchPriorKlIsTheGaussianFitsKlToThePrior) {
  torch::manual_seed(2);
  // What `ali eval` measures over a split, on the same rows (its eps differs by 1e-9 against 1e-6).
  auto z = torch::randn({300, 5}) * torch::tensor({1.0, 2.0, 0.5, 1.0, 3.0}) + 0.7;
  EXPECT_NEAR(batch_prior_kl(z).item<double>(), prior_match(z).kl, 1e-3);
  // Far from the prior it is large; samples of the prior read near 0.
  EXPECT_GT(batch_prior_kl(z).item<double>(), 2.0);
  EXPECT_LT(batch_prior_kl(torch::randn({4000, 5})).item<double>(), 0.02);
  // Hand value for a diagonal fit, mean m and variances v: 0.5 sum(v + m^2 - 1 - log v).
  auto halves = torch::cat({torch::ones({50}), -torch::ones({50})});          // mean 0
  auto quarters = torch::cat({torch::ones({25}), -torch::ones({25})}).repeat({2});  // uncorrelated
  auto diag = torch::stack({halves, quarters * 2 + 0.5}, 1);  // column 1: mean 0.5, variance 4
  const double v0 = 100.0 / 99, v1 = 4 * 100.0 / 99;        // the n - 1 divisor
  const double want = 0.5 * (v0 - 1 - std::log(v0)) + 0.5 * (v1 + 0.25 - 1 - std::log(v1));
  EXPECT_NEAR(batch_prior_kl(diag).item<double>(), want, 1e-4);
  // Perfectly correlated columns: the fit is singular up to the regulariser, the KL large.
  EXPECT_GT(batch_prior_kl(torch::stack({halves, halves}, 1)).item<double>(), 5.0);
  // A batch no larger than the code cannot be fitted: refused, not a meaningless number.
  EXPECT_THROW(batch_prior_kl(torch::randn({5, 5})), c10::Error);
}

TEST(Losses, PriorWeightPullsOnlyTheEncodersCodesTowardThePrior) {
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 4;  // a Gaussian fit of 6 codes needs fewer than 6 dimensions
  AliModel m(c);
  m.train(true);
  auto x = test::synthetic_set(6, 1, 28)->float_images(torch::arange(6));
  auto t = with_and_without(m, x, {}, {}, {.prior = 3.0}, 5);
  EXPECT_FALSE(t.plain.prior_kl.defined());
  ASSERT_TRUE(t.with.prior_kl.defined());
  EXPECT_GT(t.with.prior_kl.item<double>(), 0.0);
  EXPECT_NEAR(t.with.losses.g_loss.item<double>(), t.plain.losses.g_loss.item<double>(), 1e-6);
  EXPECT_FALSE(t.moves_d);  // D never sees it
  EXPECT_FALSE(t.moves_g);  // nor the decoder
  EXPECT_TRUE(t.moves_e);   // the encoder does
}

TEST(Losses, PriorWeightBringsTheCodesTowardThePriorAndIsKeptInTheCheckpoint) {
  test::TempDir dir;
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 4;
  auto data = test::synthetic_set(64, 1, 28);
  auto x = data->float_images(torch::arange(64));
  // The same run with and without the term; the codes of the training images, fitted as eval does.
  auto kl_after = [&](double w) {
    TrainOptions o;
    o.prior_weight = w;
    auto t = sixty_steps(c, o, data, w > 0 ? "prior_kl" : "", dir / "p.ali");
    torch::NoGradGuard ng;
    t->model().train(false);
    return prior_match(t->model().encoder->sample(t->model().encoder->forward(x, {}), false)).kl;
  };
  const double without = kl_after(0.0), with = kl_after(2.0);
  EXPECT_LT(with, 0.5 * without) << "with " << with << ", without " << without;
  EXPECT_DOUBLE_EQ(Trainer::resume(dir / "p.ali", torch::kCPU)->options().prior_weight, 2.0);

  // Refused, with a message that names the term, rather than trained with a meaningless fit.
  TrainOptions small;
  small.batch = 4;  // not more rows than the 4 latent dimensions
  small.prior_weight = 1.0;
  EXPECT_NE(refusal_of(c, small).find("larger than the latent size"), std::string::npos);
  ModelConfig g = c;
  g.objective = "gali4";
  TrainOptions o;
  o.prior_weight = 1.0;
  EXPECT_NE(refusal_of(g, o).find("prior-matching weight applies to objective ali"), std::string::npos);
}

TEST(Losses, CodeAttributeDependenceIsTheSquaredCorrelationAboveChanceSummed) {
  const int64_t n = 8;
  auto a = torch::tensor({1, 1, 1, 1, 0, 0, 0, 0}, torch::kFloat);
  auto b = torch::tensor({1, 0, 1, 0, 1, 0, 1, 0}, torch::kFloat);  // uncorrelated with a
  auto y = torch::stack({a, b, torch::ones({n})}, 1);               // the third never varies
  const double chance = 1.0 / double(n - 1);
  // Code 0 is 3a + 1 (correlation 1 with a, 0 with b); code 1 is b - a (correlation 1/sqrt 2 with
  // each); code 2 is constant (0 with both). The constant attribute does not count.
  auto codes = torch::stack({3 * a + 1, b - a, torch::full({n}, 2.0f)}, 1);
  const double want = (1 - chance) + (0 - chance) + 2 * (0.5 - chance) + 2 * (0 - chance);
  EXPECT_NEAR(code_attribute_dependence(codes, y).item<double>(), want, 1e-6);
  // Scaling or shifting a code changes nothing: correlations.
  EXPECT_NEAR(code_attribute_dependence(codes * 7 - 2, y).item<double>(), want, 1e-6);
  // Codes drawn independently of the attributes: about 0, though each squared correlation is not.
  torch::manual_seed(1);
  auto many = (torch::rand({4000, 3}) < 0.3).to(torch::kFloat);
  EXPECT_NEAR(code_attribute_dependence(torch::randn({4000, 16}), many).item<double>(), 0.0, 0.05);
  // Attributes all constant: nothing to tell, 0 (still differentiable).
  auto z = torch::randn({n, 2}, torch::requires_grad());
  auto none = code_attribute_dependence(z, torch::ones({n, 2}));
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
  // Too few rows, or rows that do not match, are refused.
  EXPECT_THROW(code_attribute_dependence(torch::randn({2, 3}), torch::ones({2, 1})), c10::Error);
  EXPECT_THROW(code_attribute_dependence(torch::randn({5, 3}), torch::ones({4, 1})), c10::Error);
}

TEST(Losses, IndependenceWeightMovesOnlyTheEncoder) {
  // Not AuxCase's six images of (mostly) different classes: with one image per class every code
  // dimension's squared correlations with the classes sum to exactly what chance gives.
  auto data = bright_dark_set(16);
  ModelConfig c;
  c.arch = "fmnist28";
  c.attributes = data->attribute_names;
  AliModel m(c);
  m.train(true);
  auto x = data->float_images(torch::arange(16)), y = data->attributes;
  auto t = with_and_without(m, x, y, {}, {.independence = 2.0}, 5);
  EXPECT_FALSE(t.plain.dependence.defined());
  ASSERT_TRUE(t.with.dependence.defined());
  EXPECT_NEAR(t.with.losses.g_loss.item<double>(), t.plain.losses.g_loss.item<double>(), 1e-6);
  EXPECT_FALSE(t.moves_d);  // D never sees it
  EXPECT_FALSE(t.moves_g);  // nor the decoder
  EXPECT_TRUE(t.moves_e);   // the encoder does
  // An unconditional model has no attributes to be independent of.
  ModelConfig u;
  u.arch = "fmnist28";
  AliModel bare(u);
  EXPECT_THROW(compute_ali_gradients(bare, x, {}, {.independence = 1.0}), c10::Error);
  EXPECT_GT(t.with.dependence.item<double>(), 0.0);  // a fresh encoder's codes tell dark from bright
}

TEST(Losses, IndependenceWeightDecorrelatesCodesFromAttributesAndIsKeptInTheCheckpoint) {
  test::TempDir dir;
  // Two classes told apart by brightness: a fresh encoder's codes tell them apart at once.
  auto data = bright_dark_set(64);
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  c.attributes = data->attribute_names;
  auto x = data->float_images(torch::arange(64));
  auto dependence_after = [&](double w) {
    TrainOptions o;
    o.rec_weight = 5.0;  // the cycle term is what makes codes carry everything, y included
    o.independence_weight = w;
    auto t = sixty_steps(c, o, data, w > 0 ? "dependence" : "", dir / "i.ali");
    // In training mode, as the objective sees the codes (60 steps do not settle the encoder's
    // BatchNorm running statistics, which evaluation mode would use).
    torch::NoGradGuard ng;
    return code_attribute_dependence(t->model().encoder->forward(x, data->attributes).mu,
                                     data->attributes)
        .item<double>();
  };
  const double without = dependence_after(0.0), with = dependence_after(2.0);
  EXPECT_GT(without, 0.5);
  EXPECT_LT(with, 0.5 * without) << "with " << with << ", without " << without;
  EXPECT_DOUBLE_EQ(Trainer::resume(dir / "i.ali", torch::kCPU)->options().independence_weight, 2.0);

  TrainOptions o;
  o.independence_weight = 1.0;
  ModelConfig u;
  u.arch = "fmnist28";
  EXPECT_NE(refusal_of(u, o).find("conditional model"), std::string::npos);
  ModelConfig g = c;
  g.objective = "gali4";
  EXPECT_NE(refusal_of(g, o).find("independence weight applies to objective ali"), std::string::npos);
  TrainOptions tiny = o;
  tiny.batch = 2;
  EXPECT_NE(refusal_of(c, tiny).find("at least 3"), std::string::npos);
}

TEST(Losses, ViewOfShiftsAndErasesWithinTheImagesRange) {
  torch::manual_seed(2);
  auto x = test::synthetic_set(32, 1, 28)->float_images(torch::arange(32));
  auto v = view_of(x);
  ASSERT_EQ(v.sizes(), x.sizes());
  // Shifting repeats edge pixels and erasing fills with the image's mean: no value leaves the
  // image's own range.
  auto lo = x.flatten(1).amin(1), hi = x.flatten(1).amax(1);
  EXPECT_TRUE(v.flatten(1).amin(1).ge(lo - 1e-6).all().item<bool>());
  EXPECT_TRUE(v.flatten(1).amax(1).le(hi + 1e-6).all().item<bool>());
  const auto changed = (v - x).abs().flatten(1).amax(1).gt(1e-6).sum().item<int64_t>();
  EXPECT_GE(changed, 24) << "most views differ from their image";  // (1/25 keep both offsets 0)
  // A flat image stays flat, whatever the shift and the square.
  auto flat = torch::full({4, 3, 64, 64}, 0.25f);
  EXPECT_TRUE(torch::allclose(view_of(flat), flat));
  // The views are drawn: two calls differ.
  EXPECT_FALSE(torch::equal(view_of(x), view_of(x)));
  EXPECT_THROW(view_of(torch::zeros({4, 28, 28})), c10::Error);
}

TEST(Losses, ViewContrastiveLossIsNtXentOnCosineSimilarities) {
  // Codes that tell nothing (all the same direction): every row's 2n - 1 candidates tie.
  const int64_t n = 5;
  auto same = torch::ones({n, 3});
  EXPECT_NEAR(view_contrastive_loss(same, 2 * same, 0.3).item<double>(), std::log(2.0 * n - 1), 1e-5);
  // Orthonormal codes, each view equal to its image's: the pair's similarity is 1, every other 0.
  auto e = torch::eye(n);
  const double t = 0.5, pair = std::exp(1 / t);
  const double want = -std::log(pair / (pair + double(2 * n - 2)));
  EXPECT_NEAR(view_contrastive_loss(e, 3 * e, t).item<double>(), want, 1e-5);
  // Swapping two rows of one view breaks their pairs: the loss grows.
  auto swapped = e.index_select(0, torch::tensor({1, 0, 2, 3, 4}));
  EXPECT_GT(view_contrastive_loss(e, swapped, t).item<double>(), want + 0.5);
  EXPECT_THROW(view_contrastive_loss(torch::ones({1, 3}), torch::ones({1, 3})), c10::Error);
  EXPECT_THROW(view_contrastive_loss(torch::ones({4, 3}), torch::ones({4, 2})), c10::Error);
}

TEST(Losses, EditedAttributesRedrawOneAttributePerRow) {
  torch::manual_seed(6);
  auto y = (torch::rand({400, 5}) < 0.3).to(torch::kFloat);
  auto e = edited_attributes(y);
  ASSERT_EQ(e.sizes(), y.sizes());
  EXPECT_TRUE(e.eq(0).logical_or(e.eq(1)).all().item<bool>());
  auto differing = e.ne(y).sum(1);
  EXPECT_LE(differing.max().item<int64_t>(), 1);  // at most the re-drawn one
  // A re-drawn attribute keeps its value half the time: about half the rows change.
  EXPECT_NEAR(differing.to(torch::kDouble).mean().item<double>(), 0.5, 0.1);
  // Each attribute is the re-drawn one about as often; set to 1 as often as to 0.
  auto changed_to_one = (e - y).clamp_min(0).sum(0), changed_to_zero = (y - e).clamp_min(0).sum(0);
  EXPECT_GT(changed_to_one.min().item<double>(), 5);
  EXPECT_GT(changed_to_zero.min().item<double>(), 5);
  // Class labels (one-hot rows) stay one-hot: a random class per row.
  auto classes = torch::one_hot(torch::arange(400) % 3, 3).to(torch::kFloat);
  auto ec = edited_attributes(classes);
  EXPECT_TRUE(ec.sum(1).eq(1).all().item<bool>());
  EXPECT_GT(ec.ne(classes).any(1).sum().item<int64_t>(), 200);  // about 2/3 of the rows change
  EXPECT_THROW(edited_attributes(torch::ones({4})), c10::Error);
}

TEST(Losses, ContrastiveWeightMovesOnlyTheEncoderAndAuxEditOnlyTheDecoder) {
  GradientCase k;
  auto t = with_and_without(k.m, k.x, {}, {}, {.contrastive = 2.0}, 5);
  EXPECT_FALSE(t.plain.contrastive.defined());
  ASSERT_TRUE(t.with.contrastive.defined());
  EXPECT_GT(t.with.contrastive.item<double>(), 0.0);
  EXPECT_FALSE(t.moves_d);  // D never sees it
  EXPECT_FALSE(t.moves_g);  // nor the decoder
  EXPECT_TRUE(t.moves_e);   // the encoder does

  AuxCase a;
  auto e = with_and_without(a.m, a.x, a.y, {.aux = 1.0}, {.aux = 1.0, .aux_edit = 2.0}, 7);
  EXPECT_FALSE(e.plain.aux_edit.defined());
  ASSERT_TRUE(e.with.aux_edit.defined());
  EXPECT_NEAR(e.with.aux_real.item<double>(), e.plain.aux_real.item<double>(), 1e-6);
  EXPECT_FALSE(e.moves_d);  // D's classifier learns from real images only
  EXPECT_FALSE(e.moves_e);  // G(z, y') does not depend on the encoder
  EXPECT_TRUE(e.moves_g);   // the decoder is asked to show the edits
  ModelConfig c = a.config;
  c.aux_classifier = false;
  AliModel bare(c);
  EXPECT_THROW(compute_ali_gradients(bare, a.x, a.y, {.aux_edit = 1.0}), c10::Error);
}

TEST(Losses, ContrastiveWeightMakesAnImagesViewsAgreeAndIsKeptInTheCheckpoint) {
  test::TempDir dir;
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  auto data = test::synthetic_set(64, 1, 28);
  auto x = data->float_images(torch::arange(64));
  auto loss_after = [&](double w) {
    TrainOptions o;
    o.contrastive_weight = w;
    auto t = sixty_steps(c, o, data, w > 0 ? "contrastive" : "", dir / "c.ali");
    // The same views for both runs; training mode, as the objective sees the codes.
    torch::NoGradGuard ng;
    torch::manual_seed(9);
    auto& e = *t->model().encoder;
    return view_contrastive_loss(e.forward(x, {}).mu, e.forward(view_of(x), {}).mu).item<double>();
  };
  const double without = loss_after(0.0), with = loss_after(2.0);
  EXPECT_LT(with, without - 0.3) << "with " << with << ", without " << without;
  EXPECT_DOUBLE_EQ(Trainer::resume(dir / "c.ali", torch::kCPU)->options().contrastive_weight, 2.0);

  TrainOptions o;
  o.contrastive_weight = 1.0;
  ModelConfig g = c;
  g.objective = "gali4";
  EXPECT_NE(refusal_of(g, o).find("contrastive weight applies to objective ali"), std::string::npos);
  TrainOptions one = o;
  one.batch = 1;
  EXPECT_NE(refusal_of(c, one).find("at least 2"), std::string::npos);
}

TEST(Losses, AuxEditWeightTeachesTheDecoderCombinationsTheDataLacksAndIsKeptInTheCheckpoint) {
  test::TempDir dir;
  // Two attributes the classifier can read apart (a bright left half, a bright right half) that
  // the data never combines: no image is bright on both sides.
  const int n = 64;
  ImageSet set;
  set.name = "halves";
  auto kind = torch::arange(n) % 3;  // 0: dark, 1: bright left, 2: bright right
  auto left = kind.eq(1).to(torch::kFloat), right = kind.eq(2).to(torch::kFloat);
  auto side = torch::cat({left.view({n, 1, 1, 1}).expand({n, 1, 28, 14}),
                          right.view({n, 1, 1, 1}).expand({n, 1, 28, 14})}, 3);
  set.images = (side * 150 + 40 + torch::randint(0, 40, {n, 1, 28, 28})).to(torch::kUInt8);
  set.attributes = torch::stack({left, right}, 1);
  set.attribute_names = {"bright_left", "bright_right"};
  auto data = std::make_shared<const ImageSet>(set);
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  c.attributes = set.attribute_names;
  c.aux_classifier = true;
  // Asked for both, how far is the decoder from being read so, by its own run's classifier
  // (trained on real images in both runs)?
  auto edit_loss_after = [&](double w) {
    TrainOptions o;
    o.aux_weight = 1.0;
    o.aux_edit_weight = w;
    auto t = sixty_steps(c, o, data, w > 0 ? "aux_edit" : "", dir / "e.ali");
    // In training mode, as the term reads them (D's BatchNorm takes the batch's statistics): a
    // batch of 32 asked for both beside 32 asked for what the data holds; the loss of the 32.
    torch::NoGradGuard ng;
    auto y = torch::cat({torch::ones({32, 2}), set.attributes.narrow(0, 0, 32)});
    torch::manual_seed(9);
    auto z = torch::randn({64, c.nlat});
    auto logits = t->model().discriminator->classify(t->model().decoder->forward(z, y));
    return aux_loss(logits.narrow(0, 0, 32), y.narrow(0, 0, 32)).item<double>();
  };
  // Over 25 draws (ALI_TEST_SEED=0..24) the term took 0.16 to 1.50 off the loss (median 0.65);
  // the 0.2 asked here failed at 2 of them (16, 22). This test's own draw takes 0.40.
  const double without = edit_loss_after(0.0), with = edit_loss_after(2.0);
  EXPECT_LT(with, without - 0.2) << "with " << with << ", without " << without;
  EXPECT_DOUBLE_EQ(Trainer::resume(dir / "e.ali", torch::kCPU)->options().aux_edit_weight, 2.0);

  TrainOptions o;
  o.aux_edit_weight = 1.0;
  ModelConfig u;
  u.arch = "fmnist28";
  EXPECT_NE(refusal_of(u, o).find("attribute-edit weight needs"), std::string::npos);
}
