#include "ali/inpaint.h"

#include "ali/error.h"

namespace ali {

torch::Tensor rectangle_mask(const torch::Tensor& rects, int64_t height, int64_t width,
                             const torch::TensorOptions& options) {
  auto r = rects.to(torch::kLong).cpu();
  auto col = torch::arange(width, torch::kLong).view({1, 1, width});
  auto row = torch::arange(height, torch::kLong).view({1, height, 1});
  auto x0 = r.select(1, 0).view({-1, 1, 1}), y0 = r.select(1, 1).view({-1, 1, 1});
  auto x1 = x0 + r.select(1, 2).view({-1, 1, 1}), y1 = y0 + r.select(1, 3).view({-1, 1, 1});
  auto inside = col.ge(x0) & col.lt(x1) & row.ge(y0) & row.lt(y1);  // N x H x W
  auto dtype = options.has_dtype() ? options.dtype().toScalarType() : torch::kFloat;
  return inside.unsqueeze(1).to(torch::TensorOptions().dtype(dtype).device(options.device()));
}

torch::Tensor fill_holes(const torch::Tensor& x, const torch::Tensor& mask) {
  return x * (1 - mask) + kHoleValue * mask;
}

torch::Tensor random_rectangles(int64_t n, int64_t size) {
  const int64_t lo = std::max<int64_t>(1, size / 8), hi = std::max<int64_t>(lo, size / 2);
  auto w = torch::randint(lo, hi + 1, {n}, torch::kLong);
  auto h =
      torch::randint(lo, hi + 1, {n}, torch::kLong);  // independent of w (the released code's slip)
  auto x = (torch::rand({n}, torch::kDouble) * (size - w + 1).to(torch::kDouble))
               .floor()
               .to(torch::kLong);
  auto y = (torch::rand({n}, torch::kDouble) * (size - h + 1).to(torch::kDouble))
               .floor()
               .to(torch::kLong);
  return torch::stack({x, y, w, h}, 1);
}

torch::Tensor inpaint(AliModel& m, const torch::Tensor& images, const Rect& hole,
                      const torch::Tensor& y) {
  const int64_t h = images.size(2), w = images.size(3);
  if (hole.w <= 0 || hole.h <= 0 || hole.x < 0 || hole.y < 0 || hole.x + hole.w > w ||
      hole.y + hole.h > h)
    throw Error("the hole " + std::to_string(hole.x) + "," + std::to_string(hole.y) + "," +
                std::to_string(hole.w) + "," + std::to_string(hole.h) +
                " does not lie inside the " + std::to_string(w) + "x" + std::to_string(h) +
                " image");
  torch::InferenceMode guard;
  m.train(false);
  auto x = images.to(m.device(), torch::kFloat);
  auto rects = torch::tensor({hole.x, hole.y, hole.w, hole.h}, torch::kLong)
                   .view({1, 4})
                   .expand({x.size(0), 4});
  auto mask = rectangle_mask(rects, h, w, x.options());
  auto yd = y.defined() ? y.to(m.device(), torch::kFloat) : y;
  auto filled = m.decoder->forward(m.encoder->forward(fill_holes(x, mask), yd).mu, yd);
  // Outside the hole the input itself, exactly (a select, not a blend, so no rounding touches it).
  return torch::where(mask.to(torch::kBool), filled, x).cpu();
}

Rect parse_rect(const std::string& text) {
  Rect r;
  char tail = 0;
  long long v[4];
  if (std::sscanf(text.c_str(), "%lld,%lld,%lld,%lld%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
    throw Error("bad rectangle '" + text + "': use X,Y,W,H in pixels");
  r.x = v[0];
  r.y = v[1];
  r.w = v[2];
  r.h = v[3];
  return r;
}

}  // namespace ali
