#include "ali/tsne.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "ali/error.h"
#include "ali/pca.h"

namespace ali {

namespace {

torch::Tensor squared_distances(const torch::Tensor& x) {
  auto sq = x.pow(2).sum(1);
  return (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * torch::mm(x, x.t())).clamp_min(0);
}

// Each point's k nearest others and p_{j|i} = exp(-beta_i d_ij) / sum over them, beta_i found by
// bisection so that the row's entropy is log(perplexity) (all rows at once). Far points get no
// affinity: with k = 3 perplexity they would hold almost none (van der Maaten 2014).
std::pair<torch::Tensor, torch::Tensor> neighbour_affinities(const torch::Tensor& x, int k,
                                                             double perplexity) {
  const int64_t n = x.size(0);
  auto d2 = squared_distances(x) + torch::eye(n, x.options()) * 1e300;
  auto [near, index] = d2.topk(k, 1, false);  // N x k, nearest first
  auto d = near - near.select(1, 0).unsqueeze(1);  // from the nearest: exp() never underflows there
  const double target = std::log(perplexity);
  auto beta = torch::ones({n, 1}, x.options());
  auto lo = torch::zeros({n, 1}, x.options());
  auto hi = torch::full({n, 1}, INFINITY, x.options());
  torch::Tensor p;
  for (int it = 0; it < 200; ++it) {
    p = torch::exp(-d * beta);
    auto sum = p.sum(1, true);
    auto entropy = torch::log(sum) + beta * (d * p).sum(1, true) / sum;
    if ((entropy - target).abs().max().item<double>() < 1e-5) break;
    auto too_wide = entropy > target;  // entropy too high: narrow the kernel (raise beta)
    lo = torch::where(too_wide, beta, lo);
    hi = torch::where(too_wide, hi, beta);
    beta = torch::where(hi.isinf(), beta * 2, (lo + hi) / 2);
  }
  return {p / p.sum(1, true), index};
}

// The symmetrised joint affinities (p_{j|i} + p_{i|j}) / 2N as sparse rows (CSR).
struct Sparse {
  std::vector<int64_t> start;  // N + 1
  std::vector<int32_t> col;
  std::vector<float> value;
};
Sparse symmetrised(const torch::Tensor& p_in, const torch::Tensor& index_in) {
  const int64_t n = p_in.size(0), k = p_in.size(1);
  auto p = p_in.contiguous();
  auto index = index_in.contiguous();
  const double* pv = p.data_ptr<double>();
  const int64_t* iv = index.data_ptr<int64_t>();
  std::vector<std::tuple<int32_t, int32_t, double>> e;
  e.reserve(size_t(2 * n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < k; ++a) {
      int32_t j = int32_t(iv[i * k + a]);
      e.emplace_back(int32_t(i), j, pv[i * k + a]);
      e.emplace_back(j, int32_t(i), pv[i * k + a]);
    }
  std::sort(e.begin(), e.end());
  Sparse s;
  s.start.assign(size_t(n + 1), 0);
  for (size_t a = 0; a < e.size();) {
    auto [i, j, v] = e[a];
    double total = 0;
    for (; a < e.size() && std::get<0>(e[a]) == i && std::get<1>(e[a]) == j; ++a) total += std::get<2>(e[a]);
    s.col.push_back(j);
    s.value.push_back(float(total / (2.0 * double(n))));
    ++s.start[size_t(i) + 1];
  }
  for (int64_t i = 0; i < n; ++i) s.start[size_t(i) + 1] += s.start[size_t(i)];
  return s;
}

// The exact t-SNE gradient: 4 (sum_j ex p_ij t_ij (y_i - y_j) - sum_j t_ij^2 (y_i - y_j) / Z) with
// t_ij = 1 / (1 + |y_i - y_j|^2) and Z = sum over pairs of t_ij. One pass over all pairs (rows in
// parallel) for the repulsion and Z, one over P's entries for the attraction.
void gradient(const std::vector<float>& y, const Sparse& p, double ex, std::vector<float>& grad,
              std::vector<double>& rep, std::vector<double>& zrow) {
  const int64_t n = int64_t(y.size() / 2);
  at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float yi0 = y[size_t(2 * i)], yi1 = y[size_t(2 * i + 1)];
      float z = 0, r0 = 0, r1 = 0;
      for (int64_t j = 0; j < n; ++j) {
        const float d0 = yi0 - y[size_t(2 * j)], d1 = yi1 - y[size_t(2 * j + 1)];
        const float t = 1.0f / (1.0f + d0 * d0 + d1 * d1);
        z += t;
        r0 += t * t * d0;
        r1 += t * t * d1;
      }
      zrow[size_t(i)] = double(z) - 1.0;  // j = i counted t = 1
      rep[size_t(2 * i)] = r0;
      rep[size_t(2 * i + 1)] = r1;
    }
  });
  double z = 0;
  for (double v : zrow) z += v;
  z = std::max(z, 1e-12);
  for (int64_t i = 0; i < n; ++i) {
    const float yi0 = y[size_t(2 * i)], yi1 = y[size_t(2 * i + 1)];
    double a0 = 0, a1 = 0;
    for (int64_t a = p.start[size_t(i)]; a < p.start[size_t(i) + 1]; ++a) {
      const int32_t j = p.col[size_t(a)];
      const float d0 = yi0 - y[size_t(2 * j)], d1 = yi1 - y[size_t(2 * j + 1)];
      const double w = double(p.value[size_t(a)]) / (1.0 + d0 * d0 + d1 * d1);
      a0 += w * d0;
      a1 += w * d1;
    }
    grad[size_t(2 * i)] = float(4.0 * (ex * a0 - rep[size_t(2 * i)] / z));
    grad[size_t(2 * i + 1)] = float(4.0 * (ex * a1 - rep[size_t(2 * i + 1)] / z));
  }
}

}  // namespace

torch::Tensor tsne(const torch::Tensor& rows, const TsneOptions& o) {
  if (rows.dim() != 2 || rows.size(0) < 4) throw Error("t-SNE needs at least four rows of codes");
  if (rows.size(0) > kTsneMaxRows)
    throw Error("t-SNE lays out at most " + std::to_string(kTsneMaxRows) + " codes (its memory grows as the square), not " +
                std::to_string(rows.size(0)) + ": take fewer (ali encode --limit), or lay them out with pca");
  auto x = rows.detach().to(torch::kCPU, torch::kDouble);
  if (!torch::isfinite(x).all().item<bool>()) throw Error("t-SNE: the codes hold NaN or infinite values (has the model diverged?)");
  const int64_t n = x.size(0);
  const double perplexity = std::clamp(o.perplexity, 1.0, double(n - 1) / 3.0);
  const int k = int(std::min<int64_t>(n - 1, int64_t(std::ceil(3 * perplexity))));
  x = x - x.mean(0);
  auto [pc, index] = neighbour_affinities(x, k, perplexity);
  const Sparse p = symmetrised(pc, index);

  torch::Tensor start;
  if (o.start.defined()) {
    if (o.start.dim() != 2 || o.start.size(0) != n || o.start.size(1) != 2)
      throw Error("t-SNE: the start layout must be " + std::to_string(n) + " x 2");
    start = o.start.detach().to(torch::kCPU, torch::kFloat).contiguous();
    if (!torch::isfinite(start).all().item<bool>()) throw Error("t-SNE: the start layout holds NaN");
  } else {
    // The first two principal components, scaled to a standard deviation of 1e-4.
    start = fit_pca(x, 2).apply(x.to(torch::kFloat));
    if (start.size(1) < 2) start = torch::cat({start, torch::zeros({n, 2 - start.size(1)})}, 1);
    start = (start / start.select(1, 0).std().clamp_min(1e-12) * 1e-4).contiguous();
  }
  std::vector<float> y(start.data_ptr<float>(), start.data_ptr<float>() + 2 * n);

  const double lr = o.learning_rate > 0 ? o.learning_rate : std::max(double(n) / o.exaggeration, 50.0);
  const size_t m = size_t(2 * n);
  std::vector<float> grad(m, 0.0f), update(m, 0.0f), gains(m, 1.0f);
  std::vector<double> rep(m, 0.0), zrow(m / 2, 0.0);
  for (int it = 0; it < o.iterations; ++it) {
    if (o.cancel && o.cancel->load()) return {};
    const bool early = it < o.exaggeration_iterations;
    gradient(y, p, early ? o.exaggeration : 1.0, grad, rep, zrow);
    // Gains (delta-bar-delta) and momentum, as in the reference implementation.
    const float momentum = early ? 0.5f : 0.8f;
    float mean[2] = {0, 0};
    for (size_t a = 0; a < m; ++a) {
      const bool same_sign = (grad[a] > 0) == (update[a] > 0);
      gains[a] = std::max(0.01f, same_sign ? gains[a] * 0.8f : gains[a] + 0.2f);
      update[a] = momentum * update[a] - float(lr) * gains[a] * grad[a];
      y[a] += update[a];
      mean[a % 2] += y[a];
    }
    for (size_t a = 0; a < m; ++a) y[a] -= mean[a % 2] / float(n);
  }
  return torch::from_blob(y.data(), {n, 2}, torch::kFloat).clone();
}

double neighbour_agreement(const torch::Tensor& points, const torch::Tensor& labels, int k) {
  auto x = points.detach().to(torch::kCPU, torch::kDouble);
  const int64_t n = x.size(0);
  if (n != labels.size(0)) throw Error("neighbour_agreement: one label per point");
  k = int(std::min<int64_t>(k, n - 1));
  if (k < 1) return 0;
  auto d2 = squared_distances(x) + torch::eye(n, x.options()) * 1e300;
  auto nn = std::get<1>(d2.topk(k, 1, false));  // N x k, nearest first
  auto l = labels.to(torch::kCPU, torch::kLong);
  auto same = l.index({nn}).eq(l.unsqueeze(1)).sum(1);
  return (same * 2 > k).to(torch::kDouble).mean().item<double>();
}

}  // namespace ali
