// The three ALI networks, built from an ArchSpec, and the model that groups them.
#pragma once
#include <torch/torch.h>

#include "ali/attributes.h"  // the attribute rules (they were declared here)
#include "ali/config.h"
#include "ali/dropout.h"

namespace ali {

struct ImageSet;

// Under bf16 autocast, a convolution whose output map is 1 x 1 (a matrix product with a row per
// image) runs in fp32 with autocast paused: its weight cast and bf16 backward cost more than bf16
// saves there (bench_layers: the encoder's and D(x)'s last layers, D(z) and D joint). Every conv
// the models build follows this; larger maps keep autocast's bf16.
bool conv_keeps_fp32(int64_t in_size, int64_t kernel, int64_t stride);

// A conv stack: per LayerSpec, [dropout] conv [BN] activation (LeakyReLU, or 2-piece maxout that
// halves the channels). Dropout p: dropout_first before the first layer, dropout_rest before the
// others. With spectral_norm, every conv is spectrally normalised and no BatchNorm is added.
torch::nn::Sequential make_conv_stack(const std::vector<LayerSpec>& layers, int in_channels,
                                      float slope, bool maxout, float dropout_first,
                                      float dropout_rest, int* out_channels,
                                      bool spectral_norm = false);

// Runs a conv stack: the same result as stack->forward(x), with each BatchNorm + LeakyReLU pair as
// one fused step (batch_norm_act.h). Every model runs its stacks through this.
torch::Tensor run_conv_stack(torch::nn::Sequential& stack, const torch::Tensor& x);
// The stack on parts of one batch: every layer per part, except BatchNorm, which normalises the
// parts together (the statistics of the whole batch, as the stack run on their concatenation).
// `taps` (one part only): each layer's output after its activation, in order, is appended there.
std::vector<torch::Tensor> run_conv_stack(torch::nn::Sequential& stack,
                                          std::vector<torch::Tensor> parts,
                                          std::vector<torch::Tensor>* taps = nullptr);

struct EncoderOutput {
  torch::Tensor mu;         // B x nlat
  torch::Tensor log_sigma;  // B x nlat
};

// Gz(x): conv stack, then a linear 1x1 conv to 2*nlat channels (mu, log sigma).
// Conditional: the attribute embedding is concatenated before that last conv.
class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(const ModelConfig& config);
  EncoderOutput forward(const torch::Tensor& x, const torch::Tensor& y = {});
  // z_hat = mu + sigma * eps (or mu alone for BiGAN / deterministic).
  torch::Tensor sample(const EncoderOutput& out, bool deterministic) const;
  // The paper's feature protocol for downstream tasks (its SVHN SVM): the last `hidden` layers'
  // activations (each flattened), then mu, as one B x D row per image.
  torch::Tensor layer_features(const torch::Tensor& x, const torch::Tensor& y = {}, int hidden = 3);

 private:
  torch::nn::Sequential stack_{nullptr};
  torch::nn::Linear embed_{nullptr};
  torch::nn::Conv2d head_{nullptr};
  int nlat_;
};
TORCH_MODULE(Encoder);

// Gx(z): transposed-conv stack, then a 1x1 conv with a per-pixel bias and a sigmoid.
class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& y = {});  // images in [0,1]
  // Sets the per-pixel output bias to logit(mean pixel) of these images (N x C x H x W in [0,1]).
  void init_output_bias(const torch::Tensor& images);

 private:
  torch::nn::Sequential stack_{nullptr};
  torch::nn::Linear embed_{nullptr};
  torch::nn::Conv2d head_{nullptr};
  torch::Tensor bias_;
  int nlat_;
};
TORCH_MODULE(Decoder);

// D(x, z): x-branch, z-branch, concatenated (with the attribute embedding when conditional) into a
// joint 1x1-conv net ending in config.disc_outputs logits. With config.disc_slots = 2 it takes two
// (x, z) pairs: the same x-branch and z-branch applied to each, features concatenated
// [x1, z1, x2, z2]. With config.disc_features > 0 a third branch (D(z)'s layers) reads a feature
// vector f per row (GALI-pretrain's M(image)).
class JointDiscriminatorImpl : public torch::nn::Module {
 public:
  JointDiscriminatorImpl(const ModelConfig& config);
  // One slot: logits B (one output) or B x K (K outputs).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& z,
                        const torch::Tensor& y = {});
  // Any slot count (xs, zs: one tensor per slot, same batch): logits B x K; f: B x disc_features.
  torch::Tensor forward_slots(const std::vector<torch::Tensor>& xs,
                              const std::vector<torch::Tensor>& zs, const torch::Tensor& y = {},
                              const torch::Tensor& f = {});
  // One slot given as parts of its batch (ALI: real and generated pairs): each part passes the x and
  // z branches on its own, with BatchNorm's statistics taken over all parts together, so the logits
  // are forward()'s on the concatenation (dropout draws its masks per part). A part whose inputs
  // need no gradient (real images, prior samples) is then left out of the encoder/decoder loss's
  // backward pass instead of being differentiated with the rest of the batch.
  // With `aux` given and an auxiliary classifier (config.aux_classifier), *aux is set to its
  // attribute logits of every part's images, concatenated (rows as the logits', fp32).
  torch::Tensor forward_parts(const std::vector<torch::Tensor>& xs,
                              const std::vector<torch::Tensor>& zs, const torch::Tensor& y = {},
                              torch::Tensor* aux = nullptr);
  bool has_aux_classifier() const { return !aux_.is_empty(); }
  // The auxiliary classifier on its own: attribute logits B x A of images B x C x H x W (D(x)'s
  // branch, then a 1x1 conv; averaged over positions when the branch leaves a map larger than 1x1).
  torch::Tensor classify(const torch::Tensor& x);
  // The image branch's buffers (its BatchNorm statistics), which classify() normalises with.
  std::vector<torch::Tensor> image_branch_buffers() const { return dx_->buffers(); }

 private:
  // The joint stack and the output layer over the branches' features (one per slot), and y.
  torch::Tensor joint_forward(std::vector<torch::Tensor> parts, const torch::Tensor& y, int64_t n);

  torch::nn::Sequential dx_{nullptr}, dz_{nullptr}, df_{nullptr}, joint_{nullptr};
  torch::nn::AnyModule embed_;
  Dropout out_dropout_{nullptr};
  torch::nn::AnyModule out_, aux_;
  int outputs_ = 1, slots_ = 1;
  bool spectral_norm_ = false;
};
TORCH_MODULE(JointDiscriminator);

// N(0, 0.01) weights, zero biases, BN gamma 1 / beta 0, as the released code.
void init_weights(torch::nn::Module& m);

struct AliModel {
  ModelConfig config;
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  JointDiscriminator discriminator{nullptr};

  explicit AliModel(const ModelConfig& config);  // resolves the config, builds, initialises
  void to(const torch::Device& device);
  void train(bool on);
  torch::Device device() const;
  // A deep copy on `device` (parameters and BN buffers), for immutable inference snapshots.
  // Building modules draws from the global generator, which clone_to saves and restores: from another
  // thread that can rewind a running trainer's noise stream. Threads that refresh a copy often should
  // build it once and then copy_state_from, which draws nothing.
  std::shared_ptr<AliModel> clone_to(const torch::Device& device) const;
  // Copies parameters and BN buffers from a model of the same configuration; false (nothing copied)
  // when the configurations differ.
  bool copy_state_from(const AliModel& other);
  // Copies every parameter and buffer of `other` whose network, name, shape and dtype match this
  // model's, whatever the configurations; returns the names of this model's tensors it left as they
  // were ("discriminator aux.weight").
  std::vector<std::string> copy_matching_state_from(const AliModel& other);
  int64_t parameter_count() const;
};

// Every parameter (or buffer: BatchNorm statistics) of E, G and D, in one fixed order.
std::vector<torch::Tensor> all_tensors(AliModel& m, bool buffers);

// Throws ali::Error unless `data` fits the model: its image shape, and for a conditional model its
// attributes. The messages read "<images> are CxSxS, the model takes ..." and "this conditional model
// needs <data> with its attributes (K of them)".
void check_images_fit(const ModelConfig& c, const ImageSet& data, const std::string& images,
                      const std::string& data_noun);

// Inference: switches the model to eval mode; inputs on any device, outputs on the CPU.
torch::Tensor encode_mu(AliModel& m, const torch::Tensor& x, const torch::Tensor& y = {});
torch::Tensor decode(AliModel& m, const torch::Tensor& z, const torch::Tensor& y = {});
torch::Tensor reconstruct(AliModel& m, const torch::Tensor& x, const torch::Tensor& y = {});
// The attributes a conditional model reads in images x (N x C x H x W), with D's auxiliary
// classifier: rows N x K of 0/1. A class model: its most likely class. CelebA attributes: each one
// above even odds, an exclusive group's most likely member alone, a mustache or goatee making a
// bearded man (as request_attribute keeps rows). What a dropped photo is encoded with, so that an
// edit changes only the attributes toggled. Throws ali::Error for a model without the classifier
// (trained without --aux-weight) or images of another shape. Its eval-mode reading needs D's
// BatchNorm statistics refit (refit_batch_norm; `ali export --refit-bn`).
torch::Tensor read_attributes(AliModel& m, const torch::Tensor& x);
// "A,B" -> {"A","B"} (spaces trimmed, empty parts dropped).
std::vector<std::string> split_list(const std::string& text, char sep = ',');

// Standard normal codes from a seed, count x nlat, on CPU (same seed, same codes on every device).
torch::Tensor seeded_normal(int64_t count, int nlat, uint64_t seed);

}  // namespace ali
