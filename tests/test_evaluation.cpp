// The evaluation code on cases with known answers.
#include <gtest/gtest.h>

#include <set>

#include "ali/celeba.h"
#include "ali/evaluation.h"
#include "ali/inpaint.h"
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

// split_probe measures linear separability: classes cut by hyperplanes through the codes probe near
// 1, classes cut by a product of two coordinates (XOR's quadrants) near chance, and a class too rare
// in the first half stops the probe rather than failing it.
TEST(Evaluation, SplitProbeReadsLinearSeparability) {
  torch::manual_seed(3);
  auto z = torch::randn({4000, 8});
  auto linear = torch::mm(z, torch::randn({8, 4})).argmax(1);
  int used = -1;
  auto lin = split_probe(z, linear, 4, 50, 2, 7, &used);
  EXPECT_EQ(used, 50);
  EXPECT_GT(lin.mean, 0.8);
  auto quadrants = (z.select(1, 0) * z.select(1, 1)).gt(0).to(torch::kLong);
  EXPECT_LT(split_probe(z, quadrants, 2, 50, 2, 7, &used).mean, 0.62);
  // Fewer rows of a class than asked: the rarest class's count is used.
  auto rare = torch::zeros({4000}, torch::kLong);
  rare.narrow(0, 0, 30).fill_(1);
  rare.narrow(0, 2000, 30).fill_(1);
  split_probe(z, rare, 2, 50, 1, 7, &used);
  EXPECT_EQ(used, 30);
  rare.narrow(0, 1, 29).fill_(0);  // one row of class 1 left in the first half
  auto none = split_probe(z, rare, 2, 50, 1, 7, &used);
  EXPECT_EQ(used, 0);
  EXPECT_TRUE(none.runs.empty());
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
  // fmnist28's last three hidden layers: 128 x 3 x 3, 256, 256; then mu, 64.
  EXPECT_EQ(j["linear_probe_layers"]["dimensions"].get<int64_t>(), 1152 + 256 + 256 + 64);
  EXPECT_TRUE(j["linear_probe_layers"].contains("baseline_untrained_encoder_mean"));
  // The decoder's latent space: an unconditional model's report probes z by G(z)'s class.
  ASSERT_TRUE(j.contains("latent_probe"));
  EXPECT_EQ(j["latent_probe"]["codes"].get<int64_t>(), 200);
  if (!j["latent_probe"].contains("skipped"))
    for (const char* k : {"accuracy_mean", "accuracy_all_labels", "encoder_mu_on_samples_mean", "baseline_sample_pixels_mean"}) {
      EXPECT_GE(j["latent_probe"][k].get<double>(), 0.0) << k;
      EXPECT_LE(j["latent_probe"][k].get<double>(), 1.0) << k;
    }
  EXPECT_TRUE(j["reconstruction"].contains("baseline_random_pairs_mse"));
  // An untrained decoder outputs about the mean image: its MSE sits near the data's variance,
  // well below the random-pair MSE (twice the variance) and far from 0.
  double mse = j["reconstruction"]["pixel_mse"], pairs = j["reconstruction"]["baseline_random_pairs_mse"];
  EXPECT_GT(mse, 0.02);
  EXPECT_LT(mse, pairs);
  // Inpainting: an untrained decoder fills every hole with about the mean image, so its error in
  // the holes is close to the mean-image baseline (same holes), and both are proper MSEs.
  ASSERT_TRUE(j.contains("inpainting"));
  double hole = j["inpainting"]["hole_mse"], hole_mean = j["inpainting"]["baseline_mean_image_mse"];
  EXPECT_GT(hole, 0.01);
  EXPECT_GT(hole_mean, 0.01);
  EXPECT_LT(hole, 1.0);
  EXPECT_NEAR(hole, hole_mean, 0.5 * hole_mean);
  EXPECT_FALSE(j.contains("reconstruction_refined"));  // only when asked
  // Seeded: the same evaluation gives the same holes and figures; asked, it also reconstructs the
  // first test images from refined codes (pixels alone), beside E's own (how much nearer refinement
  // brings a trained model's reconstructions is a figure of the report, not asserted here: this
  // untrained decoder hardly depends on z).
  o.refine_steps = 30;
  o.refine_limit = 40;
  auto again = evaluate_model(m, train, test, clf, cr, o);
  EXPECT_DOUBLE_EQ(double(again["inpainting"]["hole_mse"]), hole);
  ASSERT_TRUE(again.contains("reconstruction_refined"));
  const auto& rr = again["reconstruction_refined"];
  EXPECT_EQ(rr["images"].get<int64_t>(), 40);
  auto rows = torch::arange(40);
  auto x = test.float_images(rows);
  EXPECT_NEAR(rr["encoder_pixel_mse"].get<double>(), (reconstruct_all(m, test, rows) - x).pow(2).mean().item<double>(), 1e-6);
  EXPECT_NEAR(rr["pixel_mse"].get<double>(),
              (refined_reconstructions(m, test, rows, 30) - x).pow(2).mean().item<double>(), 1e-6);
  for (const char* k : {"label_preservation", "encoder_label_preservation", "linear_probe_refined_codes",
                        "linear_probe_encoder_mu"}) {
    EXPECT_GE(rr[k].get<double>(), 0.0) << k;
    EXPECT_LE(rr[k].get<double>(), 1.0) << k;
  }
  // The probe on mu of the same images is linear_probe's on those images (one draw).
  auto mu40 = encode_all(m, test, rows, false);
  EXPECT_NEAR(rr["linear_probe_encoder_mu"].get<double>(),
              linear_probe([&](const torch::Tensor& r) { return encode_all(m, train, r, false); }, train.labels,
                           mu40, test.labels.narrow(0, 0, 40), 10, 5, 1, o.seed).mean, 1e-9);
}

// A conditional encoder takes the class: the probes must not be handed it. On images that carry
// no class at all (noise, labels drawn apart from them) every probe of a conditional model must sit
// near chance; given the label, mu would separate the classes perfectly.
TEST(Evaluation, ConditionalProbesAreNotHandedTheLabel) {
  torch::manual_seed(5);
  auto noise = [](int n, uint64_t seed) {
    auto s = labelled(n, seed);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    s.images = torch::randint(0, 256, s.images.sizes(), gen, torch::kUInt8);
    s.labels = torch::randint(0, 10, {n}, gen, torch::kLong);
    return s;
  };
  auto train = noise(400, 11), test = noise(200, 12);
  ModelConfig c;
  c.arch = "fmnist28";
  c.attributes = train.class_names;
  AliModel m(c);
  auto clf = train_classifier(train, test, 1, 3, nullptr);
  ClassifierReport cr;
  EvalOptions o;
  o.probe_per_class = 10;
  o.probe_draws = 2;
  o.fd_samples = 100;
  o.fidelity_per_class = 5;
  auto j = evaluate_model(m, train, test, clf, cr, o);
  EXPECT_FALSE(j.contains("class_reading")) << "this D cannot read classes";
  EXPECT_FALSE(j.contains("latent_probe")) << "a conditional decoder's z carries no class";
  EXPECT_LT(j["linear_probe"]["accuracy_mean"].get<double>(), 0.3);
  EXPECT_LT(j["linear_probe_layers"]["accuracy_mean"].get<double>(), 0.3);
  EXPECT_LT(j["linear_probe_layers"]["baseline_untrained_encoder_mean"].get<double>(), 0.3);
  // The label does reach mu when given: the same untrained encoder separates the noise by it.
  auto rows = torch::arange(200);
  auto given = encode_all(m, with_class_attributes(test), rows, false);
  EXPECT_GT(logistic_regression_accuracy(given.narrow(0, 0, 100), test.labels.narrow(0, 0, 100),
                                         given.narrow(0, 100, 100), test.labels.narrow(0, 100, 100), 10),
            0.9);
}

// Images without labels (a plain image folder): the figures that need none, each equal to what the
// labelled report computes the same way, and a conditional model refused.
TEST(Evaluation, UnlabelledImagesGetTheFiguresThatNeedNoLabels) {
  auto unlabelled = [](int n, uint64_t seed) {
    auto s = labelled(n, seed);
    s.labels = torch::Tensor();
    s.class_names.clear();
    return s;
  };
  auto train = unlabelled(300, 1), test = unlabelled(120, 2);
  ModelConfig c;
  c.arch = "fmnist28";
  AliModel m(c);
  EvalOptions o;
  torch::manual_seed(9);  // the prior match samples E(x)'s codes
  auto j = evaluate_unlabelled_model(m, train, test, o);
  EXPECT_EQ(j["test_images"].get<int64_t>(), 120);
  EXPECT_FALSE(j["no_test_split"].get<bool>());
  for (const char* k : {"linear_probe", "linear_probe_layers", "latent_probe", "conditional_fidelity", "reconstruction_refined"})
    EXPECT_FALSE(j.contains(k)) << k;
  auto rows = torch::arange(120);
  auto x = test.float_images(rows);
  EXPECT_NEAR(j["reconstruction"]["pixel_mse"].get<double>(),
              (reconstruct_all(m, test, rows) - x).pow(2).mean().item<double>(), 1e-6);
  EXPECT_LT(j["reconstruction"]["pixel_mse"].get<double>(), j["reconstruction"]["baseline_random_pairs_mse"].get<double>());
  EXPECT_GT(j["inpainting"]["hole_mse"].get<double>(), 0.0);
  // Pooled pixels: an untrained decoder draws about the mean image, far from the images' spread,
  // which the two halves of the set share.
  const auto& sq = j["sample_quality"];
  EXPECT_GT(sq["frechet_distance"].get<double>(), 0.0);
  EXPECT_GT(sq["frechet_distance"].get<double>(), sq["baseline_half_vs_half"].get<double>());
  EXPECT_EQ(sq["samples"].get<int64_t>(), 120);
  // The prior match is the labelled report's: the same sampled codes.
  torch::manual_seed(9);
  auto labelled_report = prior_match(encode_all(m, test, rows, true));
  EXPECT_NEAR(j["prior_match"]["kl_to_prior"].get<double>(), labelled_report.kl, 1e-9);
  EXPECT_FALSE(j["prior_match"].contains("note")) << "120 codes in 64 dimensions fit properly";
  // No more codes than dimensions: a singular fit, its KL large for the prior's own samples too,
  // and the report says so.
  auto few = evaluate_unlabelled_model(m, train, unlabelled(40, 6), o);
  ASSERT_TRUE(few["prior_match"].contains("note"));
  EXPECT_NE(few["prior_match"]["note"].get<std::string>().find("40 codes in 64 dimensions"), std::string::npos);
  EXPECT_GT(few["prior_match"]["baseline_prior_samples"]["kl_to_prior"].get<double>(), 100.0);
  // One set for both (a folder without a split) is said; refinement gives MSEs alone.
  o.refine_steps = 5;
  o.refine_limit = 10;
  auto same = evaluate_unlabelled_model(m, test, test, o);
  EXPECT_TRUE(same["no_test_split"].get<bool>());
  ASSERT_TRUE(same.contains("reconstruction_refined"));
  EXPECT_EQ(same["reconstruction_refined"]["images"].get<int64_t>(), 10);
  EXPECT_FALSE(same["reconstruction_refined"].contains("label_preservation"));
  // A conditional model needs its labels.
  ModelConfig cc = c;
  cc.attributes = labelled(10, 3).class_names;
  AliModel conditional(cc);
  EXPECT_THROW(evaluate_unlabelled_model(conditional, train, test, o), Error);
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

TEST(Attributes, RequestsKeepRowsConsistent) {
  const auto& names = celeba_attribute_names();
  auto col = [&](const std::string& n) { return int64_t(std::find(names.begin(), names.end(), n) - names.begin()); };
  auto rows = torch::zeros({2, int64_t(names.size())});
  rows.select(1, col("Brown_Hair")).fill_(1);
  rows.select(1, col("No_Beard")).fill_(1);
  request_attribute(names, guessed_attribute_classes(names), rows, "Blond_Hair", true);  // hair colours exclude each other
  EXPECT_EQ(rows[0][col("Blond_Hair")].item<float>(), 1.0f);
  EXPECT_EQ(rows[0][col("Brown_Hair")].item<float>(), 0.0f);
  request_attribute(names, guessed_attribute_classes(names), rows, "Goatee", true);  // a goatee makes a bearded man
  EXPECT_EQ(rows[1][col("Male")].item<float>(), 1.0f);
  EXPECT_EQ(rows[1][col("No_Beard")].item<float>(), 0.0f);
  request_attribute(names, guessed_attribute_classes(names), rows, "Goatee", false);  // and without it the face is beardless again
  EXPECT_EQ(rows[1][col("No_Beard")].item<float>(), 1.0f);
  request_attribute(names, guessed_attribute_classes(names), rows, "Mustache", true);
  request_attribute(names, guessed_attribute_classes(names), rows, "Male", false);  // women here have no mustache
  EXPECT_EQ(rows[0][col("Mustache")].item<float>(), 0.0f);
  EXPECT_EQ(rows[0][col("No_Beard")].item<float>(), 1.0f);
  EXPECT_NE(test::error_of([&] { request_attribute(names, guessed_attribute_classes(names), rows, "Purple_Hair", true); }).find("valid: 5_o_Clock"),
            std::string::npos);
  // Class names (not CelebA's) are one exclusive group: one class at a time.
  std::vector<std::string> classes{"a", "b", "c"};
  EXPECT_EQ(exclusive_attribute_groups(classes, guessed_attribute_classes(classes)).size(), 1u);
  auto one_hot = torch::tensor({{1.0f, 0.0f, 0.0f}});
  request_attribute(classes, guessed_attribute_classes(classes), one_hot, "c", true);
  EXPECT_TRUE(torch::equal(one_hot, torch::tensor({{0.0f, 0.0f, 1.0f}})));
  EXPECT_EQ(exclusive_attribute_groups(names, guessed_attribute_classes(names)).size(), 2u);  // hair colour, hair style
  // A CelebA folder reduced to a few of its attributes is still multi-label, whichever they are:
  // turning one on leaves the others.
  std::vector<std::string> subset{"Bangs", "Young", "Wavy_Hair"};
  EXPECT_TRUE(is_celeba_attribute_set(subset));
  EXPECT_TRUE(exclusive_attribute_groups(subset, guessed_attribute_classes(subset)).empty());
  auto multi = torch::tensor({{1.0f, 1.0f, 0.0f}});
  request_attribute(subset, guessed_attribute_classes(subset), multi, "Wavy_Hair", true);
  EXPECT_TRUE(torch::equal(multi, torch::tensor({{1.0f, 1.0f, 1.0f}})));
  EXPECT_FALSE(is_celeba_attribute_set(classes));
  // Names of its own are classes unless the model says they are labels, as `ali train` records from
  // the data; the kind is kept in its configuration (files from before it: guessed from the names).
  ModelConfig own;
  own.attributes = {"Striped", "Dotted", "Red"};
  EXPECT_TRUE(own.attributes_are_classes());
  // Classes are drawn one at a time: two at once were never trained.
  EXPECT_NE(test::error_of([&] { attribute_vector(own, {"Striped", "Red"}); }).find("one at a time"),
            std::string::npos);
  EXPECT_TRUE(torch::equal(attribute_vector(own, {"Red"}), torch::tensor({{0.0f, 0.0f, 1.0f}})));
  own.attribute_classes = false;
  EXPECT_FALSE(own.attributes_are_classes());
  EXPECT_TRUE(exclusive_attribute_groups(own).empty());
  auto two = torch::tensor({{1.0f, 0.0f, 0.0f}});
  request_attribute(own, two, "Red", true);
  EXPECT_TRUE(torch::equal(two, torch::tensor({{1.0f, 0.0f, 1.0f}})));
  EXPECT_EQ(sample_grid_row_names(own, 4),
            (std::vector<std::vector<std::string>>{{"Striped"}, {"Dotted"}, {"Red"}, {"Striped"}}));
  nlohmann::json j = own;
  EXPECT_EQ(j.at("attribute_classes"), false);
  EXPECT_FALSE(j.get<ModelConfig>().attributes_are_classes());
  j.erase("attribute_classes");  // a file from before the field
  EXPECT_TRUE(j.get<ModelConfig>().attributes_are_classes());
  ModelConfig face;
  face.attributes = {"Bangs", "Young"};
  nlohmann::json jf = face;
  jf.erase("attribute_classes");
  EXPECT_FALSE(jf.get<ModelConfig>().attributes_are_classes());
  EXPECT_FALSE(nlohmann::json(ModelConfig{}).contains("attribute_classes"));  // unconditional
}

TEST(Attributes, SampleGridRowsAreConsistentShowcasesOrOneClassEach) {
  // A face model's grid: each row one consistent combination, women and men, every hair colour.
  ModelConfig faces;
  faces.attributes = celeba_attribute_names();
  const auto& names = faces.attributes;
  auto col = [&](const std::string& n) { return int64_t(std::find(names.begin(), names.end(), n) - names.begin()); };
  auto y = sample_grid_attributes(faces, 64, 8);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{64, 40}));
  auto rows = sample_grid_row_names(faces, 8);
  ASSERT_EQ(rows.size(), 8u);
  std::set<std::vector<std::string>> distinct(rows.begin(), rows.end());
  EXPECT_EQ(distinct.size(), 8u);
  double men = 0;
  std::set<std::string> hair;
  for (int64_t r = 0; r < 8; ++r) {
    auto first = y[r * 8];
    for (int64_t c = 1; c < 8; ++c) EXPECT_TRUE(torch::equal(y[r * 8 + c], first));  // z varies along a row
    for (const auto& n : rows[size_t(r)]) EXPECT_EQ(first[col(n)].item<float>(), 1.0f) << n;
    EXPECT_EQ(first.sum().item<float>(), float(rows[size_t(r)].size()));  // nothing else on
    const bool male = first[col("Male")].item<float>() > 0.5f;
    const bool beard = first[col("Mustache")].item<float>() + first[col("Goatee")].item<float>() > 0;
    EXPECT_EQ(first[col("No_Beard")].item<float>(), beard ? 0.0f : 1.0f) << r;  // as the data has it
    EXPECT_TRUE(male || !beard) << r;
    men += male;
    for (const char* h : {"Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"})
      if (first[col(h)].item<float>() > 0.5f) hair.insert(h);
  }
  EXPECT_EQ(men, 4);
  EXPECT_EQ(hair.size(), 4u);
  // A CelebA subset: rows keep only the names the model has, and still differ.
  ModelConfig few;
  few.attributes = {"Male", "Smiling", "Eyeglasses"};
  auto few_rows = sample_grid_row_names(few, 8);
  std::set<std::vector<std::string>> few_distinct(few_rows.begin(), few_rows.end());
  EXPECT_GE(few_distinct.size(), 4u);
  for (const auto& r : few_rows)
    for (const auto& n : r) EXPECT_NE(std::find(few.attributes.begin(), few.attributes.end(), n), few.attributes.end());
  // Class models: one class per row, cycling; unconditional models: none.
  ModelConfig classes;
  classes.attributes = {"a", "b", "c"};
  auto cy = sample_grid_attributes(classes, 10, 2);
  EXPECT_TRUE(torch::equal(cy.argmax(1), torch::tensor({0, 0, 1, 1, 2, 2, 0, 0, 1, 1}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cy.sum(1), torch::ones({10})));
  EXPECT_FALSE(sample_grid_attributes(ModelConfig{}, 8, 4).defined());
  EXPECT_TRUE(sample_grid_row_names(ModelConfig{}, 8).empty());
}

TEST(Attributes, ReadAttributesGivesConsistentRowsFromTheAuxiliaryClassifier) {
  ModelConfig faces;
  faces.arch = "fmnist28";
  faces.nlat = 8;
  faces.attributes = celeba_attribute_names();
  faces.aux_classifier = true;
  AliModel m(faces);
  const auto& names = faces.attributes;
  auto col = [&](const std::string& n) { return int64_t(std::find(names.begin(), names.end(), n) - names.begin()); };
  // The classifier's weights zeroed: its logits are its biases, whatever the image.
  {
    torch::NoGradGuard ng;
    auto params = m.discriminator->named_parameters();
    params["aux.weight"].zero_();
    auto bias = params["aux.bias"];
    bias.fill_(-3.0f);
    bias[col("Black_Hair")] = 2.0f;
    bias[col("Blond_Hair")] = 3.0f;  // two hair colours read: the likelier one alone
    bias[col("Mustache")] = 1.0f;    // a mustache makes a bearded man ...
    bias[col("No_Beard")] = 0.5f;    // ... even where No_Beard was read too
    bias[col("Smiling")] = 0.2f;
  }
  auto rows = read_attributes(m, torch::rand({3, 1, 28, 28}));
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{3, 40}));
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_EQ(attributes_on(faces, rows[i]),
              (std::vector<std::string>{"Blond_Hair", "Male", "Mustache", "Smiling"}));
  EXPECT_EQ(read_attributes(m, torch::rand({1, 1, 28, 28})).size(0), 1);  // one image, eval mode
  EXPECT_FALSE(m.discriminator->is_training());
  EXPECT_NE(test::error_of([&] { read_attributes(m, torch::rand({2, 1, 32, 32})); }).find("1x28x28"),
            std::string::npos);
  // A class model: its likeliest class, one per row.
  ModelConfig classes = faces;
  classes.attributes = {"a", "b", "c"};
  AliModel k(classes);
  {
    torch::NoGradGuard ng;
    auto params = k.discriminator->named_parameters();
    params["aux.weight"].zero_();
    params["aux.bias"].copy_(torch::tensor({-1.0f, -0.5f, -2.0f}));  // none above even odds: b still
  }
  EXPECT_TRUE(torch::equal(read_attributes(k, torch::rand({2, 1, 28, 28})),
                           torch::tensor({{0.0f, 1.0f, 0.0f}, {0.0f, 1.0f, 0.0f}})));
  // The same names as labels of their own (a CelebA-layout folder with its own header): each read
  // above even odds, together.
  ModelConfig labels = classes;
  labels.attribute_classes = false;
  AliModel l(labels);
  {
    torch::NoGradGuard ng;
    auto params = l.discriminator->named_parameters();
    params["aux.weight"].zero_();
    params["aux.bias"].copy_(torch::tensor({1.0f, -0.5f, 2.0f}));
  }
  EXPECT_TRUE(torch::equal(read_attributes(l, torch::rand({1, 1, 28, 28})),
                           torch::tensor({{1.0f, 0.0f, 1.0f}})));
  // Models that cannot read.
  ModelConfig plain = classes;
  plain.aux_classifier = false;
  AliModel p(plain);
  EXPECT_NE(test::error_of([&] { read_attributes(p, torch::rand({1, 1, 28, 28})); }).find("--aux-weight"),
            std::string::npos);
  ModelConfig none;
  none.arch = "fmnist28";
  AliModel u(none);
  EXPECT_NE(test::error_of([&] { read_attributes(u, torch::rand({1, 1, 28, 28})); }).find("unconditional"),
            std::string::npos);
}

namespace {
// 28x28 images whose attribute 0 brightens the left half and attribute 1 the top half; attribute 2
// is never on (nothing to check), attribute 3 always on.
ImageSet attribute_set(int n, uint64_t seed) {
  torch::manual_seed(seed);
  ImageSet s;
  s.name = "synthetic attributes";
  s.attribute_names = {"Left", "Top", "Never", "Always"};
  auto a = torch::randint(0, 2, {n, 2}).to(torch::kFloat);
  s.attributes = torch::cat({a, torch::zeros({n, 1}), torch::ones({n, 1})}, 1);
  auto img = torch::rand({n, 1, 28, 28}) * 0.3;
  img.narrow(3, 0, 14).add_(a.select(1, 0).view({n, 1, 1, 1}) * 0.6);
  img.narrow(2, 0, 14).add_(a.select(1, 1).view({n, 1, 1, 1}) * 0.6);
  s.images = (img.clamp(0, 1) * 255).to(torch::kUInt8);
  return s;
}
}  // namespace

TEST(Attributes, ClassifierLearnsVaryingAttributesAndRoundTrips) {
  test::TempDir dir;
  auto train = attribute_set(600, 1), test = attribute_set(200, 2);
  auto c = train_attribute_classifier(train, test, 2, 3);
  EXPECT_EQ(c.names, (std::vector<std::string>{"Left", "Top"}));  // constant columns are left out
  ASSERT_EQ(c.test_accuracy.size(), 2u);
  for (double a : c.test_accuracy) EXPECT_GT(a, 0.95);
  save_attribute_classifier(dir / "c.pt", c);
  bool cached = false;
  auto back = cached_attribute_classifier(dir / "c.pt", train, test, &cached);
  EXPECT_TRUE(cached);
  EXPECT_EQ(back.columns, c.columns);
  EXPECT_EQ(back.test_accuracy, c.test_accuracy);
  auto x = test.float_images(torch::arange(50));
  EXPECT_TRUE(torch::allclose(attribute_probabilities(back, x), attribute_probabilities(c, x)));
  auto other = train;
  other.attribute_names = {"Up", "Down", "Never", "Always"};
  EXPECT_NE(test::error_of([&] { cached_attribute_classifier(dir / "c.pt", other, test); }).find("other images or attributes"),
            std::string::npos);
}

TEST(Attributes, FidelityOfADecoderThatIgnoresItsAttributesIsChance) {
  auto train = attribute_set(400, 1), test = attribute_set(100, 2);
  auto clf = train_attribute_classifier(train, test, 1, 3);
  ModelConfig c;
  c.arch = "fmnist28";
  c.attributes = train.attribute_names;
  AliModel m(c);
  {
    torch::NoGradGuard ng;
    for (auto& p : m.decoder->named_parameters())
      if (p.key().rfind("embed.", 0) == 0) p.value().zero_();
  }
  // G(z, y) no longer depends on y: each image is seen with the attribute exactly as often when it
  // was asked on as when it was asked off, so on + off = 1 and every fidelity is 1/2.
  auto fid = attribute_fidelity(m, clf, test.attributes, 7);
  ASSERT_EQ(fid.size(), 2u);
  for (const auto& f : fid) EXPECT_NEAR(f.fidelity(), 0.5, 1e-12) << f.name;
  EvalOptions o;
  auto j = evaluate_attribute_model(m, train, test, clf, false, o);
  EXPECT_NEAR(j["attribute_fidelity"]["mean"].get<double>(), 0.5, 1e-12);
  for (const char* k : {"reconstruction", "sample_quality", "classifier", "inpainting", "prior_match"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_FALSE(j.contains("attribute_reading")) << "this D cannot read attributes";
  // Inpainting with the test images' own attributes, as the class report's; the baseline is the
  // training set's mean image in the same holes. Seeded: the same report again.
  double hole = j["inpainting"]["hole_mse"], hole_mean = j["inpainting"]["baseline_mean_image_mse"];
  EXPECT_GT(hole, 0.0);
  EXPECT_LT(hole, 1.0);
  EXPECT_GT(hole_mean, 0.0);
  EXPECT_EQ(j["inpainting"]["method"].get<std::string>(), inpainting_method(c));
  EXPECT_GE(j["prior_match"]["kl_to_prior"].get<double>(), 0.0);
  {
    EvalOptions r;
    r.refine_steps = 20;
    r.refine_limit = 30;
    auto jf = evaluate_attribute_model(m, train, test, clf, false, r);
    ASSERT_TRUE(jf.contains("reconstruction_refined"));
    EXPECT_DOUBLE_EQ(jf["inpainting"]["hole_mse"].get<double>(), hole);
    const auto& rr = jf["reconstruction_refined"];
    EXPECT_EQ(rr["images"].get<int64_t>(), 30);
    auto rows = torch::arange(30);
    auto x = test.float_images(rows);
    EXPECT_NEAR(rr["pixel_mse"].get<double>(),
                (refined_reconstructions(m, test, rows, 20) - x).pow(2).mean().item<double>(), 1e-6);
    EXPECT_NEAR(rr["encoder_pixel_mse"].get<double>(), (reconstruct_all(m, test, rows) - x).pow(2).mean().item<double>(), 1e-6);
    EXPECT_GE(rr["attribute_preservation"].get<double>(), 0.0);
    EXPECT_LE(rr["attribute_preservation"].get<double>(), 1.0);
  }
  // A D that reads attribute 0 on in everything (and so, one name per row here, nothing else): its
  // reading is right where the test images have exactly that.
  c.aux_classifier = true;
  AliModel reader(c);
  {
    torch::NoGradGuard ng;
    auto params = reader.discriminator->named_parameters();
    params["aux.weight"].zero_();
    params["aux.bias"].fill_(-5.0f);
    params["aux.bias"][0] = 5.0f;
  }
  auto jr = evaluate_attribute_model(reader, train, test, clf, false, o);
  ASSERT_TRUE(jr.contains("attribute_reading"));
  const auto& rd = jr["attribute_reading"];
  auto y = test.attributes;
  EXPECT_NEAR(rd["per_attribute"][clf.names[0]].get<double>(), y.select(1, 0).eq(1).to(torch::kDouble).mean().item<double>(), 1e-9);
  EXPECT_NEAR(rd["per_attribute"][clf.names[1]].get<double>(), y.select(1, 1).eq(0).to(torch::kDouble).mean().item<double>(), 1e-9);
  auto read = torch::zeros_like(y);
  read.select(1, 0).fill_(1);
  auto x = test.float_images(torch::arange(test.size()));
  EXPECT_NEAR(rd["reconstruction_pixel_mse_from_reading"].get<double>(),
              (reconstruct(reader, x, read) - x).pow(2).mean().item<double>(), 1e-6);
}

TEST(Attributes, RealReadingOfRequestsIsTheClassifierOnRealImagesCarryingThem) {
  // Three attributes; a classifier (any: only its names are used) of the first two. The real
  // images' rows and the classifier's readings of them are given by hand.
  auto train = attribute_set(40, 1), test = attribute_set(20, 2);
  auto clf = train_attribute_classifier(train, test, 1, 3);
  ASSERT_EQ(clf.names.size(), 2u);
  const std::vector<std::string> names = {clf.names[0], clf.names[1], "Other"};
  auto real = torch::tensor({1, 0, 0,  1, 0, 0,  0, 1, 0,  0, 0, 0}, torch::kFloat).view({4, 3});
  // Read on: the first (1,0,0) image yes, the second no; (0,1,0) read on for attribute 0 too.
  auto probs = torch::tensor({0.9, 0.1,  0.2, 0.1,  0.8, 0.7,  0.1, 0.3}, torch::kFloat).view({4, 2});
  // Requests from two rows, (0,0,0) and (0,0,1), of a class model's names: exclusive (classes),
  // asking one on clears the others.
  auto base = torch::tensor({0, 0, 0,  0, 0, 1}, torch::kFloat).view({2, 3});
  auto r = real_reading_of_requests(names, clf, base, real, probs, true);
  ASSERT_EQ(r.size(), 2u);
  // Attribute 0 asked on: both rows become (1,0,0), two real images, one read on: 0.5.
  EXPECT_NEAR(r[0].on, 0.5, 1e-12);
  EXPECT_NEAR(r[0].on_matched, 1.0, 1e-12);
  // Asked off: (0,0,0) is the last image, read off (0.1): 1; no real image is (0,0,1).
  EXPECT_NEAR(r[0].off, 1.0, 1e-12);
  EXPECT_NEAR(r[0].off_matched, 0.5, 1e-12);
  // Attribute 1 asked on: (0,1,0), one image read on (0.7); off: the last, read off (0.3).
  EXPECT_NEAR(r[1].on, 1.0, 1e-12);
  EXPECT_NEAR(r[1].off, 1.0, 1e-12);
  // A classifier that reads the (1,0,0) images the other way round: the reading follows it.
  auto flipped = probs.clone();
  flipped.select(1, 0).narrow(0, 0, 2).copy_(torch::tensor({0.1f, 0.1f}));
  EXPECT_NEAR(real_reading_of_requests(names, clf, base, real, flipped, true)[0].on, 0.0, 1e-12);
  // No request matched: NaN, not a number that looks measured.
  auto none = real_reading_of_requests(names, clf, torch::tensor({0, 0, 1}, torch::kFloat).view({1, 3}), real, probs, true);
  EXPECT_TRUE(std::isnan(none[0].off));
  EXPECT_EQ(none[0].off_matched, 0.0);
  EXPECT_THROW(real_reading_of_requests(names, clf, base, real, probs.narrow(0, 0, 3), true), Error);
}
