// Images dropped on the window (or added by path): decoded off the UI thread into a bounded copy,
// conformed to the model's input on the inference thread, encoded E(x, y) and reconstructed G(E(x,
// y), y). Their codes go onto the shelf and follow the model while it trains.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ali/inpaint.h"
#include "ali/models.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

struct DroppedImage {
  uint64_t id = 0;
  std::string path, name;
  torch::Tensor hwc;        // the decoded file scaled down to at most kMaxSide (uint8 H x W x C)
  Image input, recon;       // the conformed input x and G(E(x, y), y)
  std::vector<float> code;  // E(x, y) from the latest encoding (empty until encoded)
  bool shelved = false;     // its code went onto the shelf once (removing it there keeps it off)
  // Inpainting: a hole in the conformed input's pixels (image_size units) and the model's fill,
  // outside the hole the input exactly, inside G(mu(E(x with the hole masked))).
  std::optional<Rect> hole;
  Image filled;
};

class Drops {
 public:
  static constexpr size_t kMaxImages = 64;
  static constexpr int kMaxSide =
      256;  // bigger than any model input; a 12 MP photo is not kept whole

  explicit Drops(AppState& app);

  const std::vector<DroppedImage>& images() const { return images_; }
  size_t size() const { return images_.size(); }
  size_t reconstructed() const;
  uint64_t version() const { return version_; }

  // Checkpoints open, folders become the training data (once checked), anything else is decoded as
  // an image in the background. Errors go to the window.
  void handle(const std::vector<std::string>& paths);
  void add(const std::string& path, torch::Tensor hwc);
  void remove(uint64_t id);
  // Its code E(x, y) into the inspector, for attribute editing.
  void edit(uint64_t id);
  // A hole to fill (clipped to the model's image; an empty one clears it), drawn live while the
  // user drags it and following the model while it trains.
  void set_hole(uint64_t id, std::optional<Rect> hole);
  size_t inpainted() const;           // holes filled
  size_t inpainted_requests() const;  // holes drawn

 private:
  friend class DroppedView;
  friend class InpaintView;
  AppState& app_;
  std::vector<DroppedImage> images_;
  uint64_t version_ = 0;
  uint64_t holes_version_ = 0;
  size_t decoding_ = 0;
};

// uint8 H x W x C scaled down (area-averaged) so neither side exceeds max_side; smaller images
// unchanged.
torch::Tensor bounded_copy(const torch::Tensor& hwc, int max_side);
// `r` clipped to a size x size image; nullopt when nothing of it is left.
std::optional<Rect> clip_hole(const Rect& r, int64_t size);

}  // namespace ali::explorer
