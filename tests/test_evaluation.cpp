// The evaluation code on cases with known answers.
#include <gtest/gtest.h>

#include "ali/evaluation.h"
#include "test_util.h"

using namespace ali;

TEST(Evaluation, FrechetDistanceKnownAnswers) {
  auto a = torch::randn({2000, 8}, torch::kDouble);
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-6);  // identical sets
  // Same covariance, mean shifted by 3 along one axis: distance = 9.
  auto b = a.clone();
  b.select(1, 0).add_(3.0);
  EXPECT_NEAR(frechet_distance(a, b), 9.0, 1e-6);
  // Isotropic Gaussians with std 1 and 2 in d dims: d * (1 - 2)^2 = d (up to sampling noise).
  auto c = torch::randn({20000, 4}, torch::kDouble), d = 2 * torch::randn({20000, 4}, torch::kDouble);
  EXPECT_NEAR(frechet_distance(c, d), 4.0, 0.25);
}

TEST(Evaluation, PriorMatchOfThePriorAndOfAConstant) {
  auto z = torch::randn({20000, 6});
  auto p = prior_match(z);
  EXPECT_LT(p.mean_norm, 0.05);
  EXPECT_NEAR(p.mean_variance, 1.0, 0.05);
  EXPECT_LT(p.mean_abs_offdiag, 0.03);
  EXPECT_LT(p.kl, 0.01);
  auto q = prior_match(z * 0.5 + 2.0);  // a squeezed, shifted code
  EXPECT_NEAR(q.mean_norm, 2.0 * std::sqrt(6.0), 0.05);
  EXPECT_NEAR(q.mean_variance, 0.25, 0.02);
  EXPECT_GT(q.kl, 10.0);
}

TEST(Evaluation, LogisticRegressionSeparatesSeparableClasses) {
  auto x0 = torch::randn({60, 5}) + 4, x1 = torch::randn({60, 5}) - 4;
  auto x = torch::cat({x0, x1});
  auto y = torch::cat({torch::zeros({60}, torch::kLong), torch::ones({60}, torch::kLong)});
  EXPECT_GT(logistic_regression_accuracy(x, y, x, y, 2), 0.99);
  // Features that carry no information give chance.
  auto noise = torch::randn({400, 5});
  auto labels = torch::randint(0, 2, {400}, torch::kLong);
  EXPECT_LT(logistic_regression_accuracy(noise.narrow(0, 0, 200), labels.narrow(0, 0, 200),
                                         noise.narrow(0, 200, 200), labels.narrow(0, 200, 200), 2),
            0.7);
}

TEST(Evaluation, ProbeDrawsBalancedSubsets) {
  auto labels = torch::arange(300, torch::kLong).remainder(3);
  auto feats = torch::one_hot(labels, 3).to(torch::kFloat) * 5 + torch::randn({300, 3}) * 0.1;
  std::vector<int64_t> seen;
  auto r = linear_probe(
      [&](const torch::Tensor& rows) {
        auto counts = torch::bincount(labels.index_select(0, rows), {}, 3);
        for (int k = 0; k < 3; ++k) seen.push_back(counts[k].item<int64_t>());
        return feats.index_select(0, rows);
      },
      labels, feats, labels, 3, 10, 4, 1);
  EXPECT_EQ(r.runs.size(), 4u);
  EXPECT_GT(r.mean, 0.99);
  for (auto n : seen) EXPECT_EQ(n, 10);
}

namespace {
ImageSet labelled(int n, uint64_t seed) {
  auto s = *test::synthetic_set(n, 1, 28, 10, seed);
  return s;
}
}  // namespace

TEST(Evaluation, ReportHasEveryFigureWithItsBaseline) {
  ModelConfig c;
  c.arch = "fmnist28";
  AliModel m(c);
  auto train = labelled(300, 1), test = labelled(120, 2);
  double acc = 0;
  auto clf = train_classifier(train, test, 1, 3, &acc);
  ClassifierReport cr;
  cr.test_accuracy = acc;
  EvalOptions o;
  o.probe_per_class = 5;
  o.probe_draws = 2;
  o.fd_samples = 200;
  auto j = evaluate_model(m, train, test, clf, cr, o);
  for (const char* k : {"linear_probe", "reconstruction", "sample_quality", "prior_match"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_FALSE(j.contains("conditional_fidelity"));
  EXPECT_TRUE(j["linear_probe"].contains("baseline_raw_pixels_mean"));
  EXPECT_TRUE(j["reconstruction"].contains("baseline_random_pairs_mse"));
  // An untrained decoder outputs about the mean image: its MSE sits near the data's variance,
  // well below the random-pair MSE (twice the variance) and far from 0.
  double mse = j["reconstruction"]["pixel_mse"], pairs = j["reconstruction"]["baseline_random_pairs_mse"];
  EXPECT_GT(mse, 0.02);
  EXPECT_LT(mse, pairs);
}

TEST(Evaluation, PerfectAndConstantReconstructions) {
  auto train = labelled(400, 4), test = labelled(200, 5);
  double acc = 0;
  auto clf = train_classifier(train, test, 1, 3, &acc);
  auto x = test.float_images(torch::arange(200));
  auto y = test.labels;
  // A perfect encoder/decoder pair: MSE 0, labels preserved exactly as often as x itself is right.
  auto perfect = reconstruction_figures(x, x.clone(), y, clf, 0);
  EXPECT_DOUBLE_EQ(perfect.pixel_mse, 0.0);
  EXPECT_DOUBLE_EQ(perfect.label_preservation, perfect.classifier_accuracy);
  EXPECT_GT(perfect.random_pairs_mse, 0.1);  // uniform noise pixels: E(a-b)^2 = 1/6
  // A constant pair (always the mean image): MSE = the pixels' variance; one label for everything.
  auto mean = x.mean(0, true).expand_as(x).contiguous();
  auto constant = reconstruction_figures(x, mean, y, clf, 0);
  EXPECT_NEAR(constant.pixel_mse, x.var(0, false).mean().item<double>(), 1e-6);
  auto only = classify(clf, mean.narrow(0, 0, 1))[0].item<int64_t>();
  EXPECT_NEAR(constant.label_preservation, y.eq(only).to(torch::kDouble).mean().item<double>(), 1e-12);
}
