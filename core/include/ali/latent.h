// Latent-space maths: interpolation between codes, and a dataset's codes.
#pragma once
#include <torch/torch.h>

#include "ali/data.h"
#include "ali/models.h"

namespace ali {

torch::Tensor interpolate_linear(const torch::Tensor& a, const torch::Tensor& b, double t);
// Spherical interpolation on the angle between a and b (falls back to linear when they are
// (anti)parallel). Works on single codes (nlat) or rows (B x nlat).
torch::Tensor interpolate_slerp(const torch::Tensor& a, const torch::Tensor& b, double t);
// steps codes (steps x nlat) from a to b inclusive.
torch::Tensor interpolation_path(const torch::Tensor& a, const torch::Tensor& b, int steps,
                                 bool spherical);

// E's means for the first n images of `set` (n <= 0: all), encoded in batches of `batch`.
// Conditional models take the set's attribute rows when it has them, else y1 (1 x K) repeated, else
// zero rows.
torch::Tensor encode_images(AliModel& m, const ImageSet& set, int64_t n,
                            const torch::Tensor& y1 = {}, int64_t batch = 500);

}  // namespace ali
