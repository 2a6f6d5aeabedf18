// One training process: the model, its objective, both Adam optimisers, the batch stream and the
// step counter. step() asks the objective for one batch's gradients (D's from L_D, the encoder's
// and decoder's from L_GE) and steps the optimisers the update schedule names.
#pragma once
#include <filesystem>
#include <memory>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/error.h"
#include "ali/gradient_sync.h"
#include "ali/models.h"
#include "ali/objective.h"

namespace ali {

// What one step reports: L_D and L_GE (every objective has both) and the objective's named metrics.
struct StepStats {
  int64_t step = 0;  // steps completed after this one
  double d_loss = 0, g_loss = 0;
  double seconds = 0;       // wall time of the step
  double sync_seconds = 0;  // of which averaging over ranks took (0 in one process)
  // In the order of *metric_names (shared by every step of a run: log.csv columns, plot series).
  std::vector<double> metrics;
  std::shared_ptr<const std::vector<std::string>> metric_names;
  // The metric called `name`, NaN when this objective does not report it.
  double metric(const std::string& name) const;
};

class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

class Trainer {
 public:
  // The objective named by config.objective (make_objective), or one given.
  Trainer(const ModelConfig& config, const TrainOptions& options, torch::Device device);
  Trainer(const ModelConfig& config, const TrainOptions& options, torch::Device device,
          std::unique_ptr<Objective> objective);
  // Restores model, optimisers, step and RNG state from a checkpoint.
  static std::unique_ptr<Trainer> resume(const std::filesystem::path& path, torch::Device device);

  // Fine-tuning: before the first step, takes every parameter and buffer of `source` whose network,
  // name and shape match this model's (its decoder output bias included), so a new run starts from
  // a trained model while what is new (an auxiliary classifier) starts as initialised; the
  // optimisers start afresh. Returns the names ("discriminator aux.weight") left as initialised.
  // Throws ali::Error when the models are not compatible (check_compatible) or after step 0.
  // `origin` (e.g. the file and its step) is kept in every checkpoint's header as
  // extra.started_from, so a fine-tuned model says what it was trained from.
  std::vector<std::string> init_weights_from(const AliModel& source,
                                             const nlohmann::json& origin = {});
  const nlohmann::json& started_from() const { return started_from_; }

  // Training data (shaped as the model takes). On a fresh model also sets the decoder's output bias
  // from ~500 training images.
  void set_data(std::shared_ptr<const ImageSet> data);
  bool has_data() const { return data_ != nullptr; }
  const ImageSet& data() const { return *data_; }

  // Data-parallel training (collective: every rank calls it): each rank takes rank 0's weights and
  // buffers, its own slice of each global batch (batch x world rows) and its own noise stream;
  // step() then averages the gradients over ranks before the optimisers step. The default is the
  // no-op sync of one process.
  void set_gradient_sync(std::shared_ptr<GradientSync> sync);
  GradientSync& gradient_sync() const { return *sync_; }
  int rank() const { return sync_->rank(); }
  int world_size() const { return sync_->world_size(); }
  // Collective: every rank takes rank 0's buffers (BatchNorm running statistics, which each replica
  // keeps from its own batches); called before checkpoints and evaluation.
  void sync_buffers();

  // One update. Throws NonFiniteLoss (the model is left as it was before the step) on NaN/Inf.
  StepStats step();
  int64_t step_count() const { return step_; }
  int64_t steps_per_epoch() const;

  AliModel& model() { return *model_; }
  const AliModel& model() const { return *model_; }
  const TrainOptions& options() const { return options_; }
  const Objective& objective() const { return *objective_; }
  const std::shared_ptr<const std::vector<std::string>>& metric_names() const {
    return metric_names_;
  }
  void set_learning_rate(double lr);
  // Turns TrainOptions::fit_encoder on or off for the steps to come (the objective and its metric
  // names follow); throws ali::Error where the options do not allow it.
  void set_fit_encoder(bool on);
  torch::Device device() const { return device_; }
  // What the steps run in: options().precision with auto resolved for this device.
  Precision precision() const { return resolve_precision(options_.precision, device_); }
  void set_precision(Precision p) { options_.precision = p; }

  // Writes model, optimisers, step and RNG state. A model that reads attributes is written with
  // refit_reading_statistics(20 batches) applied to a copy.
  void save(const std::filesystem::path& path, const nlohmann::json& extra = {}) const;
  // For a model that reads attributes (D's auxiliary classifier, read_attributes): refits `copy`'s
  // (a copy of this model: a file's, a snapshot's) discriminator image-branch statistics on up to
  // `batches` batches of 100 training images (refit_batch_norm, reading_only, seeded by the step).
  // Training leaves them statistics of dropped-out activations (batch_statistics.h), which misread
  // real images.
  // Returns {batches, batch}, or null (nothing done) for a model that does not read or without data.
  nlohmann::json refit_reading_statistics(AliModel& copy, int batches) const;

 private:
  void rebuild_loader();
  void build_optimisers();

  std::shared_ptr<AliModel> model_;
  TrainOptions options_;
  torch::Device device_;
  std::unique_ptr<Objective> objective_;
  std::shared_ptr<const std::vector<std::string>> metric_names_;
  std::unique_ptr<torch::optim::Adam> opt_d_, opt_g_;
  std::shared_ptr<const ImageSet> data_;
  std::unique_ptr<BatchLoader> loader_;
  std::shared_ptr<GradientSync> sync_ = std::make_shared<GradientSync>();
  int64_t step_ = 0;
  bool output_bias_set_ = false;
  nlohmann::json started_from_;  // null: trained from initialisation
};

}  // namespace ali
