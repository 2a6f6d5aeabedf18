// Domain conforming: bring an arbitrary picture (a product photo, a portrait, any size) into the
// framing of the images a model was trained on, before it is encoded.
//
// Each model records its framing (ModelConfig::framing; by default, and in checkpoints from before it
// existed, the one of its dataset's name):
//   - "object": Fashion-MNIST's published conversion (Xiao et al. 2017): trim the background, scale
//     the longest edge to the frame (`fill` of it), sharpen lightly, pad the short edge and centre,
//     negate, 8-bit grey. For a photo: the background is read from the border, the object is its
//     bounding box, and the image is negated when the background is light, so the object comes out
//     light on black whatever the photo's background colour.
//   - "face": the ALI crop of an aligned CelebA image (the centred square of the shorter side); a
//     loose portrait is cropped around the head (the subject's top and its width under it, found
//     against the border's background) as the aligned crops frame it.
//   - "centre": shorter side to the frame, centre crop (what every image got before conforming).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

namespace ali {

struct ModelConfig;

struct Framing {
  std::string kind;   // "object", "face" or "centre"; empty: the dataset's (ModelConfig::framing_in_use)
  double fill = 1.0;            // object: the longest edge's share of the frame
  bool operator==(const Framing& o) const { return kind == o.kind && fill == o.fill; }
};
// The framing of a dataset by its name: fashion-mnist and MNIST-like IDX sets "object" (MNIST's
// digits fill 20 of 28 pixels), celeba "face", anything else "centre".
Framing framing_for_dataset(const std::string& dataset);
Framing parse_framing(const std::string& kind);  // throws ali::Error on an unknown kind
void to_json(nlohmann::json& j, const Framing& f);
void from_json(const nlohmann::json& j, Framing& f);

// A rectangle in source-image pixels.
struct Box {
  double x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
};

enum class Toggle { Auto, On, Off };

struct ConformOptions {
  bool raw = false;             // skip conforming: shorter side to the frame, centre crop
  Toggle invert = Toggle::Auto;  // object framing: negate (Auto: when the background is light)
  bool auto_crop = true;        // crop to the detected object or face (off: the whole image)
  std::optional<Box> crop;      // a crop chosen by hand (source pixels); overrides auto_crop
};

struct Conformed {
  torch::Tensor image;      // float C x S x S in [0, 1]: what the model sees
  std::string framing;      // the framing applied ("raw" when skipped)
  bool inverted = false;    // negated (object framing)
  Box box;                  // the source region that fills the frame
  std::string warning;      // non-empty when the picture has no clear object or background
};

// `hwc`: uint8 H x W x C (C = 1 or 3, any size up to the decoder's bounds). The output has the
// model's channels and size. Never throws for a picture's content: a uniform or noisy picture gets
// a warning and the "centre" framing.
Conformed conform(const torch::Tensor& hwc, const ModelConfig& config,
                  const ConformOptions& options = {});
Conformed conform_file(const std::filesystem::path& path, const ModelConfig& config,
                       const ConformOptions& options = {});

}  // namespace ali
