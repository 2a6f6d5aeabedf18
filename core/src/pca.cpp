#include "ali/pca.h"

#include <algorithm>
#include <numeric>

#include "ali/error.h"

namespace ali {

torch::Tensor Projection::apply(const torch::Tensor& rows) const {
  return torch::matmul(rows.to(torch::kFloat) - mean, components.t());
}

Projection fit_pca(const torch::Tensor& rows, int k) {
  if (rows.dim() != 2 || rows.size(0) < 2) throw Error("PCA needs at least two rows of codes");
  auto x = rows.to(torch::kCPU, torch::kDouble);
  if (!torch::isfinite(x).all().item<bool>())
    throw Error("PCA: the codes hold NaN or infinite values (has the model diverged?)");
  const int64_t d = x.size(1);
  k = int(std::min<int64_t>(k, d));
  auto mean = x.mean(0);
  auto centred = x - mean;
  auto cov = torch::matmul(centred.t(), centred) / double(x.size(0) - 1);
  auto [evals, evecs] = torch::linalg_eigh(cov);  // ascending
  auto order = torch::arange(d - 1, d - 1 - k, -1, torch::kLong);
  auto comps = evecs.index_select(1, order).t().contiguous();  // k x D
  // Fix signs so a refit on similar data does not mirror the map.
  auto idx = comps.abs().argmax(1, true);
  auto sign = comps.gather(1, idx).sign();
  sign = torch::where(sign == 0, torch::ones_like(sign), sign);
  comps = comps * sign;
  auto total = evals.clamp_min(0).sum().clamp_min(1e-12);
  Projection p;
  p.mean = mean.to(torch::kFloat);
  p.components = comps.to(torch::kFloat);
  p.explained = (evals.index_select(0, order).clamp_min(0) / total).to(torch::kFloat);
  return p;
}

std::vector<int> dimensions_by_variance(const torch::Tensor& rows) {
  auto var = rows.to(torch::kCPU, torch::kFloat).var(0).contiguous();
  std::vector<float> v(var.data_ptr<float>(), var.data_ptr<float>() + var.numel());
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[size_t(a)] > v[size_t(b)]; });
  return idx;
}

}  // namespace ali
