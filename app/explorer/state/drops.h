// Images dropped on the window (or added by path): decoded off the UI thread into a bounded copy,
// conformed to the model's framing on the inference thread (ali/conform.h: object on black, face
// crop; the card's overrides: invert, auto-crop, raw, a crop rectangle), encoded E(x, y) and
// reconstructed G(E(x, y), y). A refinement (ali/refine.h) descends on z from E(x) in chunks, so the
// card shows it converge; the refined code then stands for the image on the shelf, in the
// inspector and in attribute editing. Codes follow the model while it trains.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ali/conform.h"
#include "ali/inpaint.h"
#include "ali/models.h"
#include "ali/refine.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

struct DroppedImage {
  uint64_t id = 0;
  std::string path, name;
  torch::Tensor hwc;        // the decoded file scaled down to at most kMaxSide (uint8 H x W x C)
  Image original;           // hwc as it is, for choosing a crop on it
  Image input, recon;       // the conformed input x and G(E(x, y), y)
  ConformOptions conform;   // the card's overrides (a crop in hwc pixels)
  std::string warning;      // conforming's (no clear object, no clear background)
  bool inverted = false;    // conforming negated it (a light background)
  std::string framing;      // the framing applied
  std::vector<float> code;  // E(x, y) from the latest encoding (empty until encoded)
  // What a model that reads attributes (D's auxiliary classifier) reads in it: the y it is encoded,
  // reconstructed, refined and inpainted with, and "Edit attributes" starts from. Empty when the
  // model cannot read (those use the Attributes panel's y).
  std::vector<float> attributes;
  bool shelved = false;     // its code went onto the shelf once (removing it there keeps it off)
  // Inpainting: a hole in the conformed input's pixels (image_size units) and the model's fill,
  // outside the hole the input exactly, inside ali::inpaint's (inpainting_method says how).
  std::optional<Rect> hole;
  Image filled;
  int hole_refine = 0;  // > 0: the fill's code is then refined this many steps on the pixels around it
  int filled_refine = 0;  // the steps `filled` was refined (hole_refine when it was computed)
  // Refinement: z from E(x) by gradient descent, run in chunks; `refined` empty when there is none.
  std::vector<float> refined;
  Image refined_recon;
  int refine_done = 0, refine_target = 0;
  RefineMoments refine_moments;    // Adam's state after the last chunk (read while refine_done > 0)
  std::vector<double> refine_mse;  // pixel MSE to the conformed input: E(x)'s, then after each chunk
  int64_t refined_at_step = -1;    // the model step it ran on
  bool refining() const { return refine_target > refine_done; }
  // The code that stands for the image: the refined one when there is one.
  const std::vector<float>& best_code() const { return refined.empty() ? code : refined; }
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
  // Refine the fill's code `steps` steps on the known pixels (ali::InpaintOptions::refine_steps;
  // 0: the encoder's fill), for this hole and the ones dragged after it.
  void set_hole_refine(uint64_t id, int steps);
  size_t inpainted() const;           // holes filled
  size_t inpainted_requests() const;  // holes drawn
  // New overrides: re-conformed and re-encoded at once; a refinement is dropped (it was for the old
  // input).
  void set_conform(uint64_t id, const ConformOptions& o);
  // Refine its code `steps` steps from E(x) (starting over), live on the card.
  void refine(uint64_t id, int steps);
  void drop_refinement(uint64_t id);
  size_t refined() const;  // refinements finished
  size_t refine_requests() const;  // refinements asked for
  bool refining() const;

 private:
  friend class DroppedView;
  friend class InpaintView;
  friend class RefineView;
  AppState& app_;
  std::vector<DroppedImage> images_;
  uint64_t version_ = 0;
  uint64_t holes_version_ = 0;
  uint64_t refine_version_ = 0;
  size_t decoding_ = 0;
};

// uint8 H x W x C scaled down (area-averaged) so neither side exceeds max_side; smaller images
// unchanged.
torch::Tensor bounded_copy(const torch::Tensor& hwc, int max_side);
// `r` clipped to a size x size image; nullopt when nothing of it is left.
std::optional<Rect> clip_hole(const Rect& r, int64_t size);

}  // namespace ali::explorer
