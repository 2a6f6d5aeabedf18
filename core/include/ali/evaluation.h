// Model quality: a small image classifier (trained and cached by ali itself), linear probes,
// reconstruction and label preservation, conditional fidelity, Frechet distance in the classifier's
// feature space, and the match of E(x) to the N(0, I) prior. Each figure comes with its baseline.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "ali/data.h"
#include "ali/models.h"

namespace ali {

// conv32-pool-conv64-pool-fc128-fc(classes); `features` is the 128-d penultimate layer.
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(int channels, int image_size, int classes);
  torch::Tensor forward(const torch::Tensor& x);   // logits
  torch::Tensor features(const torch::Tensor& x);  // penultimate activations
  int channels, image_size, classes;

 private:
  torch::nn::Conv2d c1{nullptr}, c2{nullptr};
  torch::nn::Linear f1{nullptr}, f2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Classifier);

struct ClassifierReport {
  double test_accuracy = 0;
  int epochs = 0;
  bool from_cache = false;
  std::filesystem::path path;
};

using Progress = std::function<void(const std::string&)>;

Classifier train_classifier(const ImageSet& train, const ImageSet& test, int epochs, uint64_t seed,
                            double* test_accuracy, const Progress& progress = {});
void save_classifier(const std::filesystem::path& path, Classifier& c, double test_accuracy);
Classifier load_classifier(const std::filesystem::path& path, double* test_accuracy);
// Loads `path`, or trains (2 epochs) and saves it there when it does not exist.
Classifier cached_classifier(const std::filesystem::path& path, const ImageSet& train,
                             const ImageSet& test, ClassifierReport* report,
                             const Progress& progress = {});
// Where `ali eval` caches the evaluation classifier for a dataset spec and image shape: `kind` is
// "classifier" (class labels) or e.g. "9600-attribute-classifier" (multi-label, keyed by set size).
std::filesystem::path default_classifier_path(const std::string& data_spec, int channels,
                                              int image_size,
                                              const std::string& kind = "classifier");
// default_classifier_path's file, trained now on `train` and the spec's test split (`note` told so
// first) when it is not cached yet: gali-pretrain's default M.
std::filesystem::path ensure_default_classifier(const std::string& data_spec, const ImageSet& train,
                                                int channels, int image_size,
                                                const std::function<void(const std::string&)>& note = {});

// Argmax predictions / features of a classifier over many images (float N x C x H x W), in batches.
torch::Tensor classify(Classifier& c, const torch::Tensor& images);
torch::Tensor classifier_features(Classifier& c, const torch::Tensor& images);

// Multinomial logistic regression (L-BFGS, L2 `l2` on the weights, features standardised by the
// training rows); returns test accuracy.
double logistic_regression_accuracy(const torch::Tensor& train_x, const torch::Tensor& train_y,
                                    const torch::Tensor& test_x, const torch::Tensor& test_y,
                                    int classes, double l2 = 1e-2);

struct ProbeResult {
  double mean = 0, std = 0;
  std::vector<double> runs;
};
// `draws` random class-balanced subsets of `per_class` training rows each; accuracy on all test rows.
// `features(rows)` maps training-row indices to feature rows (so only the drawn rows are encoded).
ProbeResult linear_probe(const std::function<torch::Tensor(const torch::Tensor&)>& train_features,
                         const torch::Tensor& train_labels, const torch::Tensor& test_x,
                         const torch::Tensor& test_y, int classes, int per_class, int draws,
                         uint64_t seed);

// Probes of labelled rows split in halves, the first half to train and the second to test:
// linear_probe's draws of `per_class` rows of each class, fewer when the first half's rarest class
// has fewer (`used_per_class` says how many; 0 when a class has fewer than 2 there: no probe, and
// the result is empty).
ProbeResult split_probe(const torch::Tensor& features, const torch::Tensor& labels, int classes,
                        int per_class, int draws, uint64_t seed, int* used_per_class);

// Frechet distance between Gaussians fitted to two sets of rows (N x D).
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

struct PriorMatch {
  double mean_norm = 0;          // |mean of z|
  double mean_variance = 0;      // average diagonal of cov(z) (1 for the prior)
  double mean_abs_offdiag = 0;   // average |off-diagonal correlation| (0 for the prior)
  double kl = 0;                 // KL(N(mean, cov) || N(0, I))
};
PriorMatch prior_match(const torch::Tensor& z);

struct ReconstructionFigures {
  double pixel_mse = 0;
  double random_pairs_mse = 0;     // baseline: x against another random test image
  double label_preservation = 0;   // classifier(rec) == label(x)
  double classifier_accuracy = 0;  // classifier(x) == label(x), the ceiling for the line above
};
ReconstructionFigures reconstruction_figures(const torch::Tensor& x, const torch::Tensor& rec,
                                             const torch::Tensor& labels, Classifier& classifier,
                                             uint64_t seed);

struct EvalOptions {
  int probe_per_class = 100;
  int probe_draws = 5;
  int64_t test_limit = 0;      // 0: the whole test split
  int64_t fd_samples = 10000;  // generated samples for the Frechet distance
  int fidelity_per_class = 500;
  uint64_t seed = 0;
  // > 0: also reconstruct the first refine_limit test images from codes refined this many steps
  // from E's mu (ali/refine.h, pixels only), beside the encoder's own on the same images.
  int refine_steps = 0;
  int64_t refine_limit = 2000;
};

// Refuses (ali::Error) a conditional model whose attributes are not the labelled dataset's classes:
// what evaluate_model checks first, for callers with slow work before it (the classifier).
void check_model_takes_classes(const ModelConfig& c, const ImageSet& train);

// Every figure above for a model on a labelled dataset (train and test splits shaped as the model
// takes). Returns the report as JSON (see docs in the CLI's `ali eval`).
nlohmann::json evaluate_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                              Classifier& classifier, const ClassifierReport& classifier_report,
                              const EvalOptions& options, const Progress& progress = {});

// The figures that need no labels, for an unconditional model on an image folder without classes:
// reconstruction MSE (and refined, with options.refine_steps), inpainting, the prior match, and the
// Frechet distance of samples in pixels pooled to 8x8 (no classifier can be trained without labels;
// the baseline is the images half vs half). A plain image folder has no test split, so `test` is
// usually the training images themselves: the report says so (no_test_split) when both are the
// same images.
nlohmann::json evaluate_unlabelled_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                                         const EvalOptions& options, const Progress& progress = {});

// ---- Multi-label attributes (CelebA layout, e.g. `ali make-faces` data) ----
// A classifier with one logit per evaluated attribute: those whose rate in the training data lies
// within [2 %, 98 %] (attributes that never vary cannot be asked for or checked).
struct AttributeClassifier {
  Classifier net{nullptr};
  std::vector<int> columns;       // evaluated attributes: columns of the dataset's attribute rows
  std::vector<std::string> names;  // their names
  std::vector<double> test_accuracy;  // per evaluated attribute, on the test split
};
AttributeClassifier train_attribute_classifier(const ImageSet& train, const ImageSet& test, int epochs,
                                               uint64_t seed, const Progress& progress = {});
void save_attribute_classifier(const std::filesystem::path& path, AttributeClassifier& c);
AttributeClassifier load_attribute_classifier(const std::filesystem::path& path);
// Loads `path` (refusing one made for other attributes or image shapes), or trains it (4 epochs)
// and saves it there.
AttributeClassifier cached_attribute_classifier(const std::filesystem::path& path, const ImageSet& train,
                                                const ImageSet& test, bool* from_cache = nullptr,
                                                const Progress& progress = {});
// Probabilities (N x evaluated attributes) of a batch of images.
torch::Tensor attribute_probabilities(AttributeClassifier& c, const torch::Tensor& images);

struct AttributeFidelity {
  std::string name;
  double on = 0;   // fraction of samples asked with the attribute on that the classifier sees it on
  double off = 0;  // fraction of samples asked with it off that the classifier sees it off
  double fidelity() const { return 0.5 * (on + off); }
};
// For each evaluated attribute: `base` rows (N x K, real attribute rows) with that attribute requested
// on, then off (request_attribute keeps the rows consistent), one seeded code per row shared by both.
std::vector<AttributeFidelity> attribute_fidelity(AliModel& m, AttributeClassifier& c,
                                                  const torch::Tensor& base, uint64_t seed);
// What the classifier itself reads on real images asked the same: for each evaluated attribute and
// each of attribute_fidelity's requests (the `base` rows with it on, then off), the real images
// whose attribute rows (`real_rows`, N x K; `real_probs`, the classifier's N x evaluated
// probabilities of them) equal the requested row, and the fraction of them read as asked, averaged
// over the requested rows that have any (`matched`: the fraction that do; NaN readings when none
// does). A fidelity near these is the classifier's limit, not the model's. `classes`: the model's
// attributes_are_classes(), which the requests follow.
struct RealReading {
  std::string name;
  double on = 0, off = 0;
  double on_matched = 0, off_matched = 0;
};
std::vector<RealReading> real_reading_of_requests(const std::vector<std::string>& names,
                                                  const AttributeClassifier& c, const torch::Tensor& base,
                                                  const torch::Tensor& real_rows,
                                                  const torch::Tensor& real_probs, bool classes);

// A conditional model on a CelebA-layout dataset: attribute classifier accuracy, per-attribute
// fidelity and its mean, reconstruction MSE against random pairs, attribute preservation of
// G(E(x, y), y), inpainting (holes as evaluate_model's, beside the training set's mean image),
// what the codes tell of the attributes, the prior match, and the Frechet distance in the attribute
// classifier's feature space.
nlohmann::json evaluate_attribute_model(AliModel& m, const ImageSet& train, const ImageSet& test,
                                        AttributeClassifier& classifier, bool classifier_from_cache,
                                        const EvalOptions& options, const Progress& progress = {});

// Batched helpers over a model (CPU outputs).
torch::Tensor encode_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows, bool sample);
// EncoderImpl::layer_features (the last `hidden` layers and mu) of the rows.
torch::Tensor encode_layers_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows, int hidden = 3);
torch::Tensor reconstruct_all(AliModel& m, const ImageSet& set, const torch::Tensor& rows);
// The rows' codes (CPU, N x nlat), each refined `steps` steps from E's mu on pixels alone (the
// evaluation classifier's features would make its own preservation figure circular), in batches of
// 500. `seconds` (optional): the refinement's wall time is added there.
torch::Tensor refined_codes(AliModel& m, const ImageSet& set, const torch::Tensor& rows, int steps,
                            double* seconds = nullptr);
// G(refined z, y) for the rows: refined_codes decoded.
torch::Tensor refined_reconstructions(AliModel& m, const ImageSet& set, const torch::Tensor& rows,
                                      int steps, double* seconds = nullptr);

}  // namespace ali
