// Inpainting, which every model can do and GALI-mix trains for: the pixels outside a rectangular
// hole are the input's exactly; inside it, G(mu(E(x with the hole filled))). A GALI-mix model was
// trained on holes filled with a constant outside the data range [0, 1] and takes them so; the same
// masks serve its training tuples. Any other model's encoder never saw such a hole, so the hole is
// filled with what the model draws on average there, then with its own reconstruction (inpaint_masked).
#pragma once
#include <torch/torch.h>

#include "ali/models.h"

namespace ali {

inline constexpr float kHoleValue = -1.0f;  // what a hole holds in the encoder's input

struct Rect {
  int64_t x = 0, y = 0, w = 0, h = 0;  // left, top, width, height in pixels
};

// 1 inside each row's rectangle: rects is N x 4 int64 (x, y, w, h); returns N x 1 x H x W.
torch::Tensor rectangle_mask(const torch::Tensor& rects, int64_t height, int64_t width,
                             const torch::TensorOptions& options = {});
// x with every masked pixel set to kHoleValue (mask broadcast over channels).
torch::Tensor fill_holes(const torch::Tensor& x, const torch::Tensor& mask);
// N random rectangles for size x size images: width and height drawn independently in
// [max(1, size/8), size/2], the position uniform; from the default generator.
torch::Tensor random_rectangles(int64_t n, int64_t size);

// Whether the model trained on holes at kHoleValue (GALI-mix), and so is inpainted from them.
bool trained_on_holes(const ModelConfig& c);
// How inpaint_masked (default options) fills this model's holes, in words (ali eval's report).
std::string inpainting_method(const ModelConfig& c);

struct InpaintOptions {
  // Not trained on holes: the hole starts as the mean of G(z, y) over `samples` prior codes
  // (seeded, each row with its own y), then takes G(mu(E(.))) of the image so filled `rounds`
  // times. On the first 2,000 Fashion-MNIST test images with ali eval's holes (fmnist28.ali) the
  // hole MSE is 0.227 with the constant, 0.058 from the 8-sample mean, 0.051 after 2 rounds (the
  // mean image alone: 0.101).
  int samples = 8;
  int rounds = 2;
  uint64_t seed = 0;
  // > 0: then refine the code this many steps on the known pixels alone (refine.h, `known`); an
  // image whose hole covers it whole has none, and keeps the fill above.
  int refine_steps = 0;
};

// Images N x C x H x W in [0, 1] with the holes of `mask` (N x 1 x H x W, 1 in a hole) filled in
// (y: attributes of a conditional model); CPU output, the pixels outside the holes the input's.
torch::Tensor inpaint_masked(AliModel& m, const torch::Tensor& images, const torch::Tensor& mask,
                             const torch::Tensor& y = {}, const InpaintOptions& options = {});
// One rectangle for every image. Throws ali::Error when the rectangle is empty or leaves the image.
torch::Tensor inpaint(AliModel& m, const torch::Tensor& images, const Rect& hole,
                      const torch::Tensor& y = {}, const InpaintOptions& options = {});
// "X,Y,W,H" -> Rect; throws ali::Error on anything else.
Rect parse_rect(const std::string& text);

}  // namespace ali
