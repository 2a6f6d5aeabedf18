#include "ali/fused_adam.h"

#include <ATen/Parallel.h>
#include <c10/util/string_utils.h>

#include <cmath>

#include "cpu_kernels.h"

namespace ali {
namespace {

using torch::optim::AdamOptions;
using torch::optim::AdamParamState;

// m = b1 m + a1 g; v = b2 v + a2 g^2 (a = 1 - b, taken in double as Adam does); p -= step_size m /
// (sqrt(v) / sqrt(bc2) + eps): Adam::step's arithmetic, in its order, one element at a time.
// Compiled for AVX-512, AVX2 and baseline x86-64 (picked at load time); the file is built with
// -fno-math-errno (core/CMakeLists.txt), so that the square root vectorises.
ALI_KERNEL void adam_update(
    float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
    int64_t n, float beta1, float beta2, float a1, float a2, float inv_sqrt_bc2, float eps,
    float step_size) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * beta1 + a1 * gi;
    const float vi = v[i] * beta2 + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps));
  }
}

// t in p's memory layout (the same values; t itself when it already has it), so that the four
// tensors of an update can be walked as flat arrays. Moments loaded NCHW for a parameter now stored
// NHWC (a resumed channels_last run) are moved once; gradients normally match already.
torch::Tensor in_layout_of(const torch::Tensor& t, const torch::Tensor& p) {
  return t.is_non_overlapping_and_dense() && t.strides() == p.strides()
             ? t
             : torch::empty_like(p).copy_(t);
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  // Adam's own step for what the fused loop does not cover.
  for (const auto& group : param_groups()) {
    const auto& o = static_cast<const AdamOptions&>(group.options());
    if (o.amsgrad() || o.weight_decay() != 0) return torch::optim::Adam::step(closure);
    for (const auto& p : group.params())
      if (p.grad().defined() && (!p.device().is_cpu() || p.scalar_type() != torch::kFloat ||
                                 !p.is_non_overlapping_and_dense()))
        return torch::optim::Adam::step(closure);
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const AdamOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // State as Adam::step keeps it (same key, same tensors), so save/load and a later
      // torch::optim::Adam::step see no difference.
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state().find(key);
      if (it == state().end()) {
        auto st = std::make_unique<AdamParamState>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state().emplace(key, std::move(st)).first;
      }
      auto& st = static_cast<AdamParamState&>(*it->second);
      st.step(st.step() + 1);
      const double bc1 = 1 - std::pow(beta1, double(st.step()));
      const double bc2 = 1 - std::pow(beta2, double(st.step()));
      const double step_size = o.lr() / bc1;
      const auto g = in_layout_of(p.grad(), p);
      st.exp_avg(in_layout_of(st.exp_avg(), p));
      st.exp_avg_sq(in_layout_of(st.exp_avg_sq(), p));
      float *pp = p.data_ptr<float>(), *pm = st.exp_avg().data_ptr<float>(),
            *pv = st.exp_avg_sq().data_ptr<float>();
      const float* pg = g.data_ptr<float>();
      at::parallel_for(0, p.numel(), 32768, [&](int64_t b, int64_t e) {
        adam_update(pp + b, pg + b, pm + b, pv + b, e - b, float(beta1), float(beta2),
                    float(1 - beta1), float(1 - beta2), float(1 / std::sqrt(bc2)), float(o.eps()),
                    float(step_size));
      });
    }
  }
  return loss;
}

}  // namespace ali
