// Inpainting, which every model can do and GALI-mix trains for: the pixels outside a rectangular
// hole are the input's exactly; inside it, G(mu(E(masked x))), where the masked image has the hole
// filled with a constant outside the data range [0, 1]. The same masks serve GALI-mix's training
// tuples.
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

// Images N x C x H x W in [0, 1] (y: attributes of a conditional model) with `hole` filled in; CPU
// output. Throws ali::Error when the rectangle is empty or leaves the image.
torch::Tensor inpaint(AliModel& m, const torch::Tensor& images, const Rect& hole,
                      const torch::Tensor& y = {});
// "X,Y,W,H" -> Rect; throws ali::Error on anything else.
Rect parse_rect(const std::string& text);

}  // namespace ali
