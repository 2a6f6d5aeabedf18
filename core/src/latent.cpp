#include "ali/latent.h"

#include "ali/error.h"

namespace ali {

torch::Tensor interpolate_linear(const torch::Tensor& a, const torch::Tensor& b, double t) {
  return a * (1 - t) + b * t;
}

torch::Tensor interpolate_slerp(const torch::Tensor& a, const torch::Tensor& b, double t) {
  auto an = a / a.norm(2, -1, true).clamp_min(1e-12);
  auto bn = b / b.norm(2, -1, true).clamp_min(1e-12);
  auto omega = (an * bn).sum(-1, true).clamp(-1, 1).acos();
  auto so = omega.sin();
  auto lin = interpolate_linear(a, b, t);
  auto sph = (((1 - t) * omega).sin() / so) * a + ((t * omega).sin() / so) * b;
  return torch::where(so.abs() < 1e-6, lin, sph);
}

torch::Tensor interpolation_path(const torch::Tensor& a, const torch::Tensor& b, int steps,
                                 bool spherical) {
  if (steps < 2) throw Error("an interpolation needs at least 2 steps");
  if (a.sizes() != b.sizes()) throw Error("interpolation endpoints have different sizes");
  std::vector<torch::Tensor> rows;
  for (int i = 0; i < steps; ++i) {
    double t = double(i) / (steps - 1);
    rows.push_back(spherical ? interpolate_slerp(a.flatten(), b.flatten(), t)
                             : interpolate_linear(a.flatten(), b.flatten(), t));
  }
  return torch::stack(rows);
}

torch::Tensor encode_images(AliModel& m, const ImageSet& set, int64_t n, const torch::Tensor& y1,
                            int64_t batch) {
  n = n <= 0 ? set.size() : std::min(n, set.size());
  const int64_t k = int64_t(m.config.attributes.size());
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < n; i += batch) {
    auto idx = torch::arange(i, std::min(n, i + batch), torch::kLong);
    torch::Tensor y;
    if (k > 0 && set.attributes.defined() && set.attributes.size(1) == k)
      y = set.attributes.index_select(0, idx).to(torch::kFloat);
    else if (k > 0)
      y = y1.defined() && y1.size(-1) == k ? y1.reshape({1, k}).repeat({idx.size(0), 1})
                                           : torch::zeros({idx.size(0), k});
    parts.push_back(encode_mu(m, set.float_images(idx), y));
  }
  if (parts.empty()) return torch::zeros({0, int64_t(m.config.nlat)});
  return torch::cat(parts);
}

}  // namespace ali
