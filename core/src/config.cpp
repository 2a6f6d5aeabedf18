#include "ali/config.h"

#include <map>
#include <nlohmann/json.hpp>

#include "ali/attributes.h"
#include "ali/error.h"

namespace ali {
namespace {

LayerSpec C(int k, int s, int ch, bool bn = true) { return {LayerKind::Conv, k, s, ch, bn}; }
LayerSpec T(int k, int s, int ch, bool bn = true) { return {LayerKind::ConvT, k, s, ch, bn}; }

std::map<std::string, ArchSpec> make_presets() {
  std::map<std::string, ArchSpec> m;

  ArchSpec svhn;
  svhn.name = "svhn32";
  svhn.description = "SVHN 32x32x3 (ALI paper), NLAT 256";
  svhn.image_size = 32;
  svhn.image_channels = 3;
  svhn.nlat = 256;
  svhn.slope = 0.01f;
  svhn.encoder = {C(5, 1, 32), C(4, 2, 64), C(4, 1, 128), C(4, 2, 256), C(4, 1, 512), C(1, 1, 512)};
  svhn.decoder = {T(4, 1, 256), T(4, 2, 128), T(4, 1, 64), T(4, 2, 32), T(5, 1, 32), C(1, 1, 32)};
  svhn.disc_x = {C(5, 1, 32, false), C(4, 2, 64), C(4, 1, 128), C(4, 2, 256), C(4, 1, 512)};
  svhn.disc_z = {C(1, 1, 512, false), C(1, 1, 512, false)};
  svhn.disc_joint = {C(1, 1, 1024, false), C(1, 1, 1024, false)};
  svhn.dropout_first = svhn.dropout_rest = 0.2f;
  m[svhn.name] = svhn;

  ArchSpec cifar = svhn;
  cifar.name = "cifar32";
  cifar.description = "CIFAR-10 32x32x3 (ALI paper), NLAT 64, maxout D";
  cifar.nlat = 64;
  cifar.slope = 0.1f;
  cifar.maxout = true;
  for (auto& l : cifar.disc_x) l.batch_norm = false;
  cifar.dropout_first = 0.2f;
  cifar.dropout_rest = 0.5f;
  m[cifar.name] = cifar;

  ArchSpec celeba;
  celeba.name = "celeba64";
  celeba.description = "CelebA 64x64x3 (ALI paper), NLAT 256";
  celeba.image_size = 64;
  celeba.image_channels = 3;
  celeba.nlat = 256;
  celeba.slope = 0.02f;
  celeba.encoder = {C(2, 1, 64), C(7, 2, 128), C(5, 2, 256), C(7, 2, 256), C(4, 1, 512)};
  celeba.decoder = {T(4, 1, 512), T(7, 2, 256), T(5, 2, 256), T(7, 2, 128), T(2, 1, 64)};
  celeba.disc_x = {C(2, 1, 64, false), C(7, 2, 128), C(5, 2, 256), C(7, 2, 256), C(4, 1, 512)};
  celeba.disc_z = {C(1, 1, 1024, false), C(1, 1, 1024, false)};
  celeba.disc_joint = {C(1, 1, 2048, false), C(1, 1, 2048, false)};
  celeba.dropout_first = celeba.dropout_rest = 0.2f;
  m[celeba.name] = celeba;

  // Project preset: celeba64's structure (kernels, strides, the same 64x64 framing) with a quarter of
  // its channels and NLAT 128, so that a face model trains in two hours on 2 CPU cores: celeba64 costs
  // about 6.7 s per batch-100 step there (about 1,100 steps in two hours), this about 16x fewer
  // multiply-adds per image (bench/README.md has the measured step).
  ArchSpec compact = celeba;
  compact.name = "celeba64-compact";
  compact.description = "CelebA 64x64x3 (celeba64's structure, a quarter of its channels), NLAT 128";
  compact.nlat = 128;
  compact.encoder = {C(2, 1, 16), C(7, 2, 32), C(5, 2, 64), C(7, 2, 64), C(4, 1, 128)};
  compact.decoder = {T(4, 1, 128), T(7, 2, 64), T(5, 2, 64), T(7, 2, 32), T(2, 1, 16)};
  compact.disc_x = {C(2, 1, 16, false), C(7, 2, 32), C(5, 2, 64), C(7, 2, 64), C(4, 1, 128)};
  compact.disc_z = {C(1, 1, 256, false), C(1, 1, 256, false)};
  compact.disc_joint = {C(1, 1, 512, false), C(1, 1, 512, false)};
  compact.embed_dim = 64;
  m[compact.name] = compact;

  // Project preset: the SVHN structure scaled to 28x28x1 so that it trains on 2 CPU cores.
  ArchSpec fm;
  fm.name = "fmnist28";
  fm.description = "Fashion-MNIST 28x28x1 (project preset, SVHN structure), NLAT 64";
  fm.image_size = 28;
  fm.image_channels = 1;
  fm.nlat = 64;
  fm.slope = 0.02f;
  fm.encoder = {C(5, 1, 16), C(4, 2, 32), C(4, 1, 64), C(4, 2, 128), C(3, 1, 256), C(1, 1, 256)};
  fm.decoder = {T(3, 1, 256), T(4, 2, 128), T(4, 1, 64), T(4, 2, 32), T(5, 1, 16), C(1, 1, 16)};
  fm.disc_x = {C(5, 1, 16, false), C(4, 2, 32), C(4, 1, 64), C(4, 2, 128), C(3, 1, 256)};
  fm.disc_z = {C(1, 1, 256, false), C(1, 1, 256, false)};
  fm.disc_joint = {C(1, 1, 512, false), C(1, 1, 512, false)};
  fm.dropout_first = fm.dropout_rest = 0.2f;
  fm.embed_dim = 64;
  m[fm.name] = fm;

  // The paper's fourth architecture (Tiny ImageNet); the encoder's last C1-512 is the (mu, log
  // sigma) head and the decoder's C1-3 the output conv, which every preset adds itself.
  ArchSpec tiny;
  tiny.name = "tinyimagenet64";
  tiny.description = "Tiny ImageNet 64x64x3 (ALI paper), NLAT 256";
  tiny.image_size = 64;
  tiny.image_channels = 3;
  tiny.nlat = 256;
  tiny.slope = 0.01f;
  tiny.encoder = {C(4, 2, 64),  C(4, 1, 64),  C(4, 2, 128),  C(4, 1, 128),
                  C(4, 2, 256), C(4, 1, 256), C(1, 1, 2048), C(1, 1, 2048)};
  tiny.decoder = {C(1, 1, 2048), C(1, 1, 256), T(4, 1, 256), T(4, 2, 128),
                  T(4, 1, 128),  T(4, 2, 64),  T(4, 1, 64),  T(4, 2, 64)};
  tiny.disc_x = {C(4, 2, 64, false), C(4, 1, 64),  C(4, 2, 128),
                 C(4, 1, 128),       C(4, 2, 256), C(4, 1, 256)};
  tiny.disc_z = {C(1, 1, 2048, false), C(1, 1, 2048, false)};
  tiny.disc_joint = {C(1, 1, 4096, false), C(1, 1, 4096, false)};
  tiny.dropout_first = tiny.dropout_rest = 0.2f;
  m[tiny.name] = tiny;
  return m;
}

const std::map<std::string, ArchSpec>& presets() {
  static const std::map<std::string, ArchSpec> p = make_presets();
  return p;
}

}  // namespace


const ArchSpec& arch_preset(const std::string& name) {
  auto it = presets().find(name);
  if (it == presets().end()) {
    std::string names;
    for (const auto& [n, _] : presets()) names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown architecture '" + name + "' (valid: " + names + ")");
  }
  return it->second;
}

std::vector<std::string> arch_preset_names() {
  std::vector<std::string> v;
  for (const auto& [n, _] : presets()) v.push_back(n);
  return v;
}

int output_size(const std::vector<LayerSpec>& layers, int in) {
  int s = in;
  for (const auto& l : layers)
    s = l.kind == LayerKind::Conv ? (s - l.kernel) / l.stride + 1 : (s - 1) * l.stride + l.kernel;
  return s;
}

ModelConfig ModelConfig::resolved() const {
  const ArchSpec& a = arch_preset(arch);
  ModelConfig c = *this;
  if (c.nlat <= 0) c.nlat = a.nlat;
  if (c.image_channels <= 0) c.image_channels = a.image_channels;
  if (c.image_size <= 0) c.image_size = a.image_size;
  if (c.image_size != a.image_size)
    throw Error("architecture " + arch + " takes " + std::to_string(a.image_size) + "x" +
                std::to_string(a.image_size) + " images, not " + std::to_string(c.image_size));
  if (c.disc_outputs < 1 || c.disc_slots < 1 || c.disc_slots > 2 || c.disc_features < 0)
    throw Error("the discriminator needs at least one output and one or two (x, z) slots");
  if (c.aux_classifier && !c.conditional())
    throw Error("an auxiliary attribute classifier needs a conditional model");
  if (c.image_channels != 1 && c.image_channels != 3)
    throw Error("images must have 1 or 3 channels, not " + std::to_string(c.image_channels));
  return c;
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"arch", c.arch},
                     {"nlat", c.nlat},
                     {"image_channels", c.image_channels},
                     {"image_size", c.image_size},
                     {"bigan", c.bigan},
                     {"attributes", c.attributes},
                     {"dataset", c.dataset},
                     {"objective", c.objective},
                     {"disc_outputs", c.disc_outputs},
                     {"disc_slots", c.disc_slots},
                     {"disc_features", c.disc_features},
                     {"spectral_norm", c.spectral_norm},
                     {"aux_classifier", c.aux_classifier},
                     {"framing", c.framing_in_use()}};
  if (c.conditional()) j["attribute_classes"] = c.attributes_are_classes();
}

bool ModelConfig::attributes_are_classes() const {
  return conditional() && attribute_classes.value_or(guessed_attribute_classes(attributes));
}

std::string config_difference(const ModelConfig& a, const ModelConfig& b) {
  nlohmann::json ja = a, jb = b;
  ja.erase("dataset");
  jb.erase("dataset");
  for (auto it = ja.begin(); it != ja.end(); ++it)
    if (!jb.contains(it.key()) || jb.at(it.key()) != it.value()) return it.key();
  for (auto it = jb.begin(); it != jb.end(); ++it)
    if (!ja.contains(it.key())) return it.key();
  return {};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  c.arch = j.at("arch").get<std::string>();
  c.nlat = j.at("nlat").get<int>();
  c.image_channels = j.at("image_channels").get<int>();
  c.image_size = j.at("image_size").get<int>();
  c.bigan = j.value("bigan", false);
  c.attributes = j.value("attributes", std::vector<std::string>{});
  c.attribute_classes = j.contains("attribute_classes")
                            ? std::optional<bool>(j.at("attribute_classes").get<bool>())
                            : std::nullopt;
  c.dataset = j.value("dataset", std::string{});
  c.objective = j.value("objective", std::string("ali"));  // files from before objectives existed
  c.disc_outputs = j.value("disc_outputs", 1);
  c.disc_slots = j.value("disc_slots", 1);
  c.disc_features = j.value("disc_features", 0);
  c.spectral_norm = j.value("spectral_norm", false);
  c.aux_classifier = j.value("aux_classifier", false);
  c.framing = j.contains("framing") ? j.at("framing").get<Framing>() : Framing{};  // before: the dataset's
}

}  // namespace ali
