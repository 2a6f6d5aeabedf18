// Principal component analysis of latent codes, for the explorer's 2-D latent map and for ordering a
// code's dimensions by how much they vary over a dataset.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace ali {

struct Projection {
  torch::Tensor mean;        // D
  torch::Tensor components;  // k x D, rows orthonormal, largest variance first
  torch::Tensor explained;   // k: fraction of the total variance each component explains
  // Rows N x D -> N x k.
  torch::Tensor apply(const torch::Tensor& rows) const;
};

// The top-k principal components of rows (N x D, N >= 2). Deterministic (eigendecomposition of the
// covariance; each component's sign is fixed so its largest coefficient is positive). ali::Error for
// fewer than two rows or non-finite values.
Projection fit_pca(const torch::Tensor& rows, int k = 2);

// Dimension indices sorted by variance over rows, largest first.
std::vector<int> dimensions_by_variance(const torch::Tensor& rows);

}  // namespace ali
