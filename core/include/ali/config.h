// Architecture presets (the reference tables) and the model configuration stored in checkpoints.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ali/conform.h"

namespace ali {

enum class LayerKind { Conv, ConvT };

// One layer of a conv stack: kind, kernel, stride, output channels, whether BatchNorm follows.
struct LayerSpec {
  LayerKind kind = LayerKind::Conv;
  int kernel = 1;
  int stride = 1;
  int channels = 1;
  bool batch_norm = false;
};

struct ArchSpec {
  std::string name;
  int image_size = 32;
  int image_channels = 3;
  int nlat = 256;
  float slope = 0.01f;             // LeakyReLU slope
  std::vector<LayerSpec> encoder;  // before the linear 1x1 conv to (mu, log sigma)
  std::vector<LayerSpec> decoder;  // before the 1x1 conv to image channels (sigmoid)
  std::vector<LayerSpec> disc_x;   // D(x)
  std::vector<LayerSpec> disc_z;   // D(z)
  std::vector<LayerSpec> disc_joint;  // joint net before the final C1-1
  bool maxout = false;                // 2-piece maxout in D instead of LeakyReLU (halves channels)
  float dropout_first = 0.2f;         // dropout on the inputs of D's first x and z layers
  float dropout_rest = 0.2f;          // dropout on the inputs of every other D layer
  int embed_dim = 256;                // attribute embedding width (conditional models)
  std::string description;
};

const ArchSpec& arch_preset(const std::string& name);  // throws ali::Error listing valid names
std::vector<std::string> arch_preset_names();

// Spatial size after a stack of layers applied to an input of size `in` (padding 0).
int output_size(const std::vector<LayerSpec>& layers, int in);

inline constexpr int kCheckpointFormatVersion = 1;

struct ModelConfig {
  std::string arch = "fmnist28";
  int nlat = 0;            // 0: the preset's
  int image_channels = 0;  // 0: the preset's
  int image_size = 0;      // 0: the preset's
  bool bigan = false;      // deterministic encoder (z = mu)
  std::vector<std::string> attributes;  // non-empty: conditional model on these binary attributes
  // Whether the attributes are a dataset's classes (one on per row: Fashion-MNIST's) rather than
  // labels of which any may be on together (a CelebA-layout folder's, whatever their names). Set by
  // `ali train` from the data; unset (files from before it): classes unless CelebA's names are among
  // them. Read it through attributes_are_classes().
  std::optional<bool> attribute_classes;
  std::string dataset;                  // what it was trained on (informative)
  // The training objective (see ali/objective.h); checkpoints written before it existed read "ali".
  std::string objective = "ali";
  // The discriminator's shape, set from the objective: logits per call (1 for ALI, K for a K-way
  // softmax), (x, z) slots per input (GALI-8 takes two pairs), the width of an extra feature input
  // y = M(image) (GALI-pretrain; 0: none), and spectral normalisation of every D layer (which also
  // drops D's BatchNorm and dropout, as the GALI code).
  int disc_outputs = 1;
  int disc_slots = 1;
  int disc_features = 0;
  bool spectral_norm = false;
  // An auxiliary classifier on D's image branch (AC-GAN, Odena et al. 2017): a conditional model's
  // D also predicts the attributes from x alone (one logit each), trained on real images, and the
  // decoder is trained to have its images read as the attributes it was asked for (--aux-weight).
  bool aux_classifier = false;
  // How its training images were framed, for conforming pictures to it (ali/conform.h). Empty: the
  // dataset's (framing_for_dataset), which is what new runs and files from before it existed get;
  // read it through framing_in_use().
  Framing framing;

  // Fills zeros from the preset; throws on unknown arch.
  ModelConfig resolved() const;
  bool conditional() const { return !attributes.empty(); }
  bool attributes_are_classes() const;
  // D's auxiliary classifier reads a conditional model's attributes in images (read_attributes).
  bool reads_attributes() const { return conditional() && aux_classifier; }
  Framing framing_in_use() const { return framing.kind.empty() ? framing_for_dataset(dataset) : framing; }
  const ArchSpec& spec() const { return arch_preset(arch); }
};

void to_json(nlohmann::json& j, const ModelConfig& c);
// The first setting (its JSON name) in which two configurations differ, the dataset name aside;
// empty when they describe the same model.
std::string config_difference(const ModelConfig& a, const ModelConfig& b);
void from_json(const nlohmann::json& j, ModelConfig& c);

}  // namespace ali
