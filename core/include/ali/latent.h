// Latent-space maths: interpolation between codes.
#pragma once
#include <torch/torch.h>

namespace ali {

torch::Tensor interpolate_linear(const torch::Tensor& a, const torch::Tensor& b, double t);
// Spherical interpolation on the angle between a and b (falls back to linear when they are
// (anti)parallel). Works on single codes (nlat) or rows (B x nlat).
torch::Tensor interpolate_slerp(const torch::Tensor& a, const torch::Tensor& b, double t);
// steps codes (steps x nlat) from a to b inclusive.
torch::Tensor interpolation_path(const torch::Tensor& a, const torch::Tensor& b, int steps,
                                 bool spherical);

}  // namespace ali
