// BatchNorm statistics re-estimated for inference (refit_batch_norm): eval-mode networks then
// normalise as they would with each batch's own statistics; weights and D untouched; bad data
// refused with the statistics as they were.
#include <gtest/gtest.h>

#include "ali/batch_statistics.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;

namespace {

ModelConfig small_model() {
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  return c;
}

std::vector<torch::Tensor> state_of(torch::nn::Module& net) {
  std::vector<torch::Tensor> t;
  for (const auto& p : net.parameters()) t.push_back(p.detach().clone());
  for (const auto& b : net.buffers()) t.push_back(b.clone());
  return t;
}

bool same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

// Statistics far from any the networks produce.
void spoil(torch::nn::Module& net) {
  torch::NoGradGuard ng;
  for (const auto& m : net.modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.fill_(3);
      bn->running_var.fill_(50);
    }
}

// Mean |eval-mode output - training-mode output| (the batch's own statistics, on a copy, whose
// running statistics the pass may move).
double gap(AliModel& m, const torch::Tensor& x, const torch::Tensor& z) {
  torch::NoGradGuard ng;
  auto copy = m.clone_to(torch::kCPU);
  copy->train(true);
  auto ex = copy->encoder->forward(x).mu, gz = copy->decoder->forward(z);
  m.train(false);
  auto ex_eval = m.encoder->forward(x).mu, gz_eval = m.decoder->forward(z);
  return (ex_eval - ex).abs().mean().item<double>() / ex.abs().mean().item<double>() +
         (gz_eval - gz).abs().mean().item<double>() / gz.abs().mean().item<double>();
}

}  // namespace

TEST(BatchStatistics, RefitNormalisesAsTheBatchesDoAndTouchesNothingElse) {
  AliModel m(small_model());
  auto data = test::synthetic_set(300, 1, 28);
  auto x = data->float_images(torch::arange(200, 300));
  auto z = torch::randn({100, 8});
  const double fresh = gap(m, x, z);  // a new model's statistics: mean 0, variance 1
  spoil(*m.encoder);
  spoil(*m.decoder);
  const double spoiled = gap(m, x, z);
  auto weights_e = m.encoder->parameters(), weights_g = m.decoder->parameters();
  std::vector<torch::Tensor> we, wg;
  for (auto& p : weights_e) we.push_back(p.detach().clone());
  for (auto& p : weights_g) wg.push_back(p.detach().clone());
  auto d = state_of(*m.discriminator);
  BatchNormRefit o;
  o.batches = 4;  // more than the 3 batches the 300 images hold: a second pass begins
  refit_batch_norm(m, *data, o);
  const double refit = gap(m, x, z);
  // The gap left is one batch's statistics against the average of four (0.15 here, against 1.0).
  EXPECT_GT(spoiled, 0.5) << "spoiled statistics must show";
  EXPECT_LT(refit, 0.25 * std::min(spoiled, fresh)) << "refit " << refit << ", spoiled " << spoiled << ", fresh " << fresh;
  EXPECT_FALSE(m.encoder->is_training());
  EXPECT_FALSE(m.discriminator->is_training());
  EXPECT_TRUE(same(d, state_of(*m.discriminator)));  // D: as it was
  for (size_t i = 0; i < we.size(); ++i) EXPECT_TRUE(torch::equal(we[i], weights_e[i]));
  for (size_t i = 0; i < wg.size(); ++i) EXPECT_TRUE(torch::equal(wg[i], weights_g[i]));
  // Every batch counted alike; the modules keep their own momentum for training.
  for (const auto& mod : m.decoder->modules(false))
    if (auto* bn = mod->as<torch::nn::BatchNorm2dImpl>()) {
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 4);
      EXPECT_TRUE(bn->options.momentum().has_value());
    }
  // The same seed gives the same statistics; another seed others.
  auto again = state_of(*m.decoder);
  refit_batch_norm(m, *data, o);
  EXPECT_TRUE(same(again, state_of(*m.decoder)));
  o.seed = 1;
  refit_batch_norm(m, *data, o);
  EXPECT_FALSE(same(again, state_of(*m.decoder)));
}

TEST(BatchStatistics, DataThatDoesNotFitIsRefusedAndChangesNothing) {
  AliModel m(small_model());
  auto e = state_of(*m.encoder), g = state_of(*m.decoder);
  EXPECT_EQ(error_of([&] { refit_batch_norm(m, *test::synthetic_set(200, 1, 32)); }),
            "the images are 1x32x32, the model takes 1x28x28");
  EXPECT_EQ(error_of([&] { refit_batch_norm(m, *test::synthetic_set(50, 1, 28)); }),
            "the data has 50 images, fewer than one batch of 100");
  BatchNormRefit none;
  none.batches = 0;
  EXPECT_NE(error_of([&] { refit_batch_norm(m, *test::synthetic_set(200, 1, 28), none); }).find("at least 1 batch"),
            std::string::npos);
  ModelConfig c = small_model();
  c.attributes = {"a", "b"};
  AliModel conditional(c);
  EXPECT_NE(error_of([&] { refit_batch_norm(conditional, *test::synthetic_set(200, 1, 28)); })
                .find("needs images with its attributes (2 of them)"),
            std::string::npos);
  EXPECT_TRUE(same(e, state_of(*m.encoder)));
  EXPECT_TRUE(same(g, state_of(*m.decoder)));
}

TEST(BatchStatistics, ConditionalModelsRefitWithTheImagesAttributes) {
  ModelConfig c = small_model();
  c.attributes = {"class0", "class1", "class2"};
  AliModel m(c);
  auto data = std::make_shared<const ImageSet>(with_class_attributes(*test::synthetic_set(200, 1, 28, 3)));
  spoil(*m.decoder);
  auto before = state_of(*m.decoder);
  BatchNormRefit o;
  o.batches = 2;
  refit_batch_norm(m, *data, o);
  EXPECT_FALSE(same(before, state_of(*m.decoder)));
  for (const auto& t : state_of(*m.decoder)) EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
}

TEST(BatchStatistics, ADiscriminatorThatReadsAttributesHasItsImageBranchRefit) {
  ModelConfig c = small_model();
  c.attributes = {"class0", "class1", "class2"};
  c.aux_classifier = true;
  AliModel m(c);
  auto data = std::make_shared<const ImageSet>(with_class_attributes(*test::synthetic_set(300, 1, 28, 3)));
  auto x = data->float_images(torch::arange(200, 300));
  // D's reading with its batch's own statistics (dropout off), and in eval mode.
  auto reading_gap = [&] {
    torch::NoGradGuard ng;
    auto copy = m.clone_to(torch::kCPU);
    copy->train(false);
    for (const auto& mod : copy->discriminator->modules(false))
      if (auto* bn = mod->as<torch::nn::BatchNorm2dImpl>()) bn->train(true);
    auto batch = copy->discriminator->classify(x);
    m.train(false);
    auto eval = m.discriminator->classify(x);
    return (eval - batch).abs().mean().item<double>() / batch.abs().mean().item<double>();
  };
  spoil(*m.discriminator);
  const double spoiled = reading_gap();
  std::vector<torch::Tensor> weights;
  for (const auto& p : m.discriminator->parameters()) weights.push_back(p.detach().clone());
  BatchNormRefit o;
  o.batches = 3;
  refit_batch_norm(m, *data, o);
  const double refit = reading_gap();
  EXPECT_GT(spoiled, 0.5);
  EXPECT_LT(refit, 0.25 * spoiled) << "refit " << refit << ", spoiled " << spoiled;
  auto params = m.discriminator->parameters();
  for (size_t i = 0; i < weights.size(); ++i) EXPECT_TRUE(torch::equal(weights[i], params[i]));
  EXPECT_FALSE(m.discriminator->is_training());
}
