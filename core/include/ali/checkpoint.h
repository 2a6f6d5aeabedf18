// The .ali checkpoint file: one file holding a JSON header (format version, model config, training
// options, step) and a LibTorch archive (E/G/D weights, optimiser states, RNG state), with a CRC32.
// Layout: "ALICKPT\0" | u32 version | u64 header length | header JSON | u64 payload length | payload |
// u32 crc32(header + payload). Written atomically (temporary file, flush, fsync, rename).
#pragma once
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ali/config.h"
#include "ali/error.h"
#include "ali/models.h"
#include "ali/precision.h"

namespace ali {

struct TrainOptions {
  int batch = 100;
  double lr = 1e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  uint64_t seed = 0;
  double d_lr_scale = 1.0;  // the discriminator's learning rate is lr * d_lr_scale (1: the paper)
  // Weight of an explicit reconstruction term mean|x - G(z_hat)| added to the encoder/decoder loss
  // (ALICE's cycle consistency, Li et al. 2017). 0: the paper's pure ALI game.
  double rec_weight = 0.0;
  // Weight of the auxiliary classifier's loss (config.aux_classifier; conditional ALI only): D gets
  // aux_weight * BCE(aux(x), y) on real images, the decoder aux_weight * BCE(aux(G(z, y)), y), each
  // summed over the attributes and averaged over the batch. 0: no auxiliary loss.
  double aux_weight = 0.0;
  // Weight of a prior-matching term (objective ali): the encoder gets prior_weight * the KL from a
  // Gaussian fitted to the batch's codes E(x) to N(0, I) (batch_prior_kl), so that the codes it
  // gives spread like the prior the decoder samples from. 0: none. Needs batch > latent size.
  double prior_weight = 0.0;
  // Weight of an independence term (objective ali, conditional models): the encoder gets
  // independence_weight * the above-chance terms of code_attribute_dependence(mu, y) on each
  // batch, so that its codes carry what the attributes do not, as the z the decoder is sampled
  // with. 0: none.
  double independence_weight = 0.0;
  // Weight of a view-contrastive term (objective ali): the encoder gets contrastive_weight * the
  // NT-Xent loss (SimCLR, temperature kContrastiveTemperature) of each batch's means mu(x) against
  // the means of a shifted, partly erased copy of the batch (view_of), so that what mu keeps of an
  // image survives small changes of it. 0: none. Needs batch >= 2.
  double contrastive_weight = 0.0;
  // Weight of an attribute-edit term (objective ali, auxiliary classifier): the decoder also draws
  // G(z, y') for y' = y with one attribute per row re-drawn (edited_attributes), and gets
  // aux_edit_weight * aux_loss(aux(G(z, y')), y'), so that it obeys each attribute in the
  // combinations an edit asks for, not only those the data holds. 0: none.
  double aux_edit_weight = 0.0;
  // Fit the encoder alone to the model's decoder (objective ali, a stage after training): each step
  // E learns from the reconstruction term mean|x - G(E(x))| and its own added terms (prior,
  // independence, contrastive), with the decoder as inference runs it (eval mode, its statistics as
  // they are); neither the decoder nor D changes, and D is not run. Needs rec_weight > 0.
  bool fit_encoder = false;
  // Objective options (see ali/objective.h). GALI loss weights: "uniform" or "released".
  std::string weighting = "uniform";
  std::string schedule = "simultaneous";  // or "alternate": 5 D-only steps, then 1 E/G-only step
  double instance_noise = 0.0;  // std of Gaussian noise on D's images at step 0 (0: none) ...
  int64_t noise_steps = 0;      // ... annealed per epoch to 0 over this many steps (0: constant)
  int64_t labels = 0;           // semi: labelled training images
  std::string feature_net;      // gali-pretrain: M's file (eval classifier or TorchScript module)
  // fp32, bf16 autocast, or auto (bf16 where the hardware runs it natively). Files written before the
  // option existed trained in fp32.
  Precision precision = Precision::FP32;
};
void to_json(nlohmann::json& j, const TrainOptions& o);
// Throws ali::Error saying which option is outside its range or not finite (NaN, Inf).
void validate_train_options(const TrainOptions& o);
inline constexpr int kMaxBatch = 1 << 16;
inline constexpr int kMaxLatentSize = 4096;
void from_json(const nlohmann::json& j, TrainOptions& o);

struct CheckpointHeader {
  int format_version = kCheckpointFormatVersion;
  ModelConfig config;
  TrainOptions options;
  int64_t step = 0;
  std::vector<std::string> class_names;  // of the training data, when labelled
  nlohmann::json extra = nlohmann::json::object();  // e.g. evaluation results
};

struct CheckpointFile {
  CheckpointHeader header;
  std::string payload;  // serialized torch::serialize archive
};

void write_checkpoint_file(const std::filesystem::path& path, const CheckpointHeader& header,
                           const std::string& payload);
// Throws ali::Error saying what is wrong: missing, not a regular file (FIFO, device), too large,
// not a checkpoint, newer format, truncated, corrupt (checksum), a header too large, too deeply
// nested or with a field of the wrong type or outside its range.
CheckpointFile read_checkpoint_file(const std::filesystem::path& path);
CheckpointHeader read_checkpoint_header(const std::filesystem::path& path);
// What a fine-tuned model started from, "fine-tuned from fmnist28.ali, its step 16276", or "" for
// a model trained from initialisation. Fields of the wrong type in extra.started_from are left out.
std::string describe_origin(const nlohmann::json& extra);
// A header's step with its origin: "500 (fine-tuned from fmnist28.ali, its step 16276)".
std::string describe_steps(const CheckpointHeader& header);

// Thrown instead of writing a model whose weights hold NaN or Inf: a file nothing could use would
// replace the last good one.
class NonFiniteWeights : public Error {
 public:
  using Error::Error;
};
// The first parameter or buffer (as "encoder conv.0.weight") that holds NaN or Inf; empty if none.
std::string first_non_finite(const AliModel& m);

// Serialises the three networks into `archive` (keys encoder, decoder, discriminator) / restores
// them. Saving throws NonFiniteWeights for a diverged model.
void save_networks(const AliModel& m, torch::serialize::OutputArchive& archive);
// Restoring checks every tensor's shape against the model's configuration and refuses non-finite
// weights.
void load_networks(AliModel& m, torch::serialize::InputArchive& archive,
                   const std::string& what_for_errors);

// Opens a checkpoint's LibTorch archive; anything the importer throws becomes ali::Error naming
// `what`.
void read_weights_archive(const std::string& payload, const torch::Device& device,
                          torch::serialize::InputArchive& archive, const std::string& what);

// Writes only the three networks (no optimiser or RNG state): a small file for shipping a model.
// Training can resume from it with fresh optimiser state.
void save_model(const std::filesystem::path& path, const AliModel& m, const CheckpointHeader& header);

// A model for inference (eval mode) on `device`.
std::shared_ptr<AliModel> load_model(const std::filesystem::path& path, const torch::Device& device,
                                     CheckpointHeader* header_out = nullptr);
// The mean of several saved models' weights (checkpoint averaging: Polyak averaging over a run's
// kept checkpoints, as SWA or a weight EMA would give): every parameter and every floating-point
// buffer (BatchNorm's running statistics) averaged; integer buffers are the last file's. The models
// must share their configuration (the dataset name aside); any other is refused, naming the file
// and the first setting that differs. `header_out` gets the last file's header, its extra recording
// the files and steps averaged ("averaged_from"). On the CPU, in eval mode, as load_model.
std::shared_ptr<AliModel> average_models(const std::vector<std::filesystem::path>& paths,
                                         CheckpointHeader* header_out = nullptr);

// Throws when `have` cannot stand in for `want` (arch, latent size, channels, attributes).
void check_compatible(const ModelConfig& have, const ModelConfig& want, const std::string& what);

// True when the file starts with the checkpoint magic (for sniffing dropped files).
bool looks_like_checkpoint(const std::filesystem::path& path);
// True when the file is named as a checkpoint: ".ali" in any case ("MODEL.ALI" too).
bool has_checkpoint_extension(const std::filesystem::path& path);

}  // namespace ali
