// t-SNE (van der Maaten and Hinton 2008, exact gradient): a 2-D layout of latent codes that keeps
// each code's nearest neighbours near it, for the explorer's latent map. Where a model's codes match
// N(0, I) (a prior-matched encoder), their covariance is nearly isotropic and PCA's two axes hold a
// few percent of the variance and no cluster; t-SNE shows the clusters the codes do have.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <cstdint>

namespace ali {

struct TsneOptions {
  double perplexity = 30;      // effective neighbours per point; lowered to (N - 1) / 3 for few points
  int iterations = 750;
  int exaggeration_iterations = 250;  // the first ones, with P scaled by `exaggeration`
  double exaggeration = 12;
  double learning_rate = 0;    // 0: max(N / exaggeration, 50) (Belkina et al. 2019)
  // N x 2: start from this layout (an earlier one of similar codes, so that a map that follows
  // training moves instead of jumping); undefined: from the first two principal components.
  torch::Tensor start;
  // Polled once per iteration: set from another thread to stop early (tsne then returns an
  // undefined tensor).
  const std::atomic<bool>* cancel = nullptr;
};

// rows: N x D (N >= 4), any dtype and device. Returns N x 2 float on the CPU, centred. Deterministic:
// without options.start, the start is the rows' first two principal components, scaled small (no
// random draw), so the same rows give the same layout. The affinities use each point's 3 perplexity
// nearest neighbours; the layout's gradient is exact (O(N^2) per iteration: 2,000 codes take about
// 1.7 s with two intra-op threads, 3 s with one, bench_map). ali::Error for fewer than 4 rows, more
// than kTsneMaxRows (its N x N matrices: 10,000 rows take about 6 GB and 90 s, 60,000 would take
// 29 GB a matrix), non-finite values or a start of another shape.
constexpr int64_t kTsneMaxRows = 10000;
torch::Tensor tsne(const torch::Tensor& rows, const TsneOptions& options = {});

// The fraction of points whose k nearest other points (Euclidean, in `points`) mostly share its
// label, ties counted as misses: how well a layout keeps labelled groups together.
double neighbour_agreement(const torch::Tensor& points, const torch::Tensor& labels, int k = 5);

}  // namespace ali
