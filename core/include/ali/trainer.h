// One ALI training process: the model, both Adam optimisers, the batch stream and the step counter.
// step() is the released code's simultaneous update: one forward pass, D's gradients from L_D, the
// encoder's and decoder's from L_G.
#pragma once
#include <filesystem>
#include <memory>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/error.h"
#include "ali/models.h"

namespace ali {

struct AliLosses {
  torch::Tensor d_loss;  // softplus(-l_q) + softplus(l_p), batch mean
  torch::Tensor g_loss;  // softplus(l_q) + softplus(-l_p), batch mean
};
// l_q: logits of encoder pairs (x, E(x)); l_p: logits of decoder pairs (G(z), z).
AliLosses ali_losses(const torch::Tensor& l_q, const torch::Tensor& l_p);

struct GradientResult {
  AliLosses losses;
  torch::Tensor l_q, l_p;  // logits of the encoder pairs and of the decoder pairs
  torch::Tensor rec;       // mean|x - G(z_hat)| when a reconstruction weight was given, else undefined
};
// One forward pass of the ALI game on a batch (x, optional attributes y), then the simultaneous
// gradients: every discriminator parameter's .grad set to dL_D/dtheta, every encoder and decoder
// parameter's .grad to dL_G/dtheta. Noise (z, eps, dropout) comes from the default generator.
// With rec_weight > 0 the encoder/decoder loss also gets rec_weight * mean|x - G(z_hat)|.
// `precision` BF16 runs the forward passes under bf16 autocast (losses on fp32 logits); the
// gradients land in the fp32 parameters either way.
GradientResult compute_ali_gradients(AliModel& m, const torch::Tensor& x, const torch::Tensor& y = {},
                                     double rec_weight = 0.0, Precision precision = Precision::FP32);

struct StepStats {
  int64_t step = 0;  // steps completed after this one
  double d_loss = 0, g_loss = 0;
  double p_real = 0;  // mean D(x, E(x)) probability
  double p_fake = 0;  // mean D(G(z), z) probability
  double rec = 0;     // mean|x - G(z_hat)| when trained with a reconstruction weight, else 0
  double seconds = 0;  // wall time of the step
};

class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

class Trainer {
 public:
  Trainer(const ModelConfig& config, const TrainOptions& options, torch::Device device);
  // Restores model, optimisers, step and RNG state from a checkpoint.
  static std::unique_ptr<Trainer> resume(const std::filesystem::path& path, torch::Device device);

  // Training data (shaped as the model takes). On a fresh model also sets the decoder's output bias
  // from ~500 training images.
  void set_data(std::shared_ptr<const ImageSet> data);
  bool has_data() const { return data_ != nullptr; }
  const ImageSet& data() const { return *data_; }

  // One update. Throws NonFiniteLoss (the model is left as it was before the step) on NaN/Inf.
  StepStats step();
  int64_t step_count() const { return step_; }
  int64_t steps_per_epoch() const;

  AliModel& model() { return *model_; }
  const AliModel& model() const { return *model_; }
  const TrainOptions& options() const { return options_; }
  void set_learning_rate(double lr);
  torch::Device device() const { return device_; }
  // What the steps run in: options().precision with auto resolved for this device.
  Precision precision() const { return resolve_precision(options_.precision, device_); }
  void set_precision(Precision p) { options_.precision = p; }

  void save(const std::filesystem::path& path, const nlohmann::json& extra = {}) const;

 private:
  void rebuild_loader();
  void build_optimisers();

  std::shared_ptr<AliModel> model_;
  TrainOptions options_;
  torch::Device device_;
  std::unique_ptr<torch::optim::Adam> opt_d_, opt_g_;
  std::shared_ptr<const ImageSet> data_;
  std::unique_ptr<BatchLoader> loader_;
  int64_t step_ = 0;
  bool output_bias_set_ = false;
};

}  // namespace ali
