#include "ali/spectral_norm.h"

namespace ali {
namespace F = torch::nn::functional;

namespace {
torch::Tensor as_matrix(const torch::Tensor& w) { return w.reshape({w.size(0), -1}); }
torch::Tensor unit(const torch::Tensor& t) {
  return F::normalize(t, F::NormalizeFuncOptions().dim(0).eps(1e-12));
}
}  // namespace

SpectralNormState::SpectralNormState(torch::nn::Module& owner, const torch::Tensor& weight) {
  auto m = as_matrix(weight);
  u_ = owner.register_buffer("u", unit(torch::randn({m.size(0)}, weight.options())));
  v_ = owner.register_buffer("v", unit(torch::randn({m.size(1)}, weight.options())));
}

torch::Tensor SpectralNormState::weight_sn(const torch::Tensor& weight, bool training,
                                           int iterations) {
  auto m = as_matrix(weight);
  if (training) {
    torch::NoGradGuard ng;
    for (int i = 0; i < iterations; ++i) {
      v_.copy_(unit(torch::mv(m.t(), u_)));
      u_.copy_(unit(torch::mv(m, v_)));
    }
  }
  // Clones: the next forward updates u and v in place while this graph may still be alive.
  return weight / sigma(weight);
}

torch::Tensor SpectralNormState::sigma(const torch::Tensor& weight) const {
  return torch::dot(u_.clone(), torch::mv(as_matrix(weight), v_.clone()));
}

SNConv2dImpl::SNConv2dImpl(const torch::nn::Conv2dOptions& options) {
  conv = register_module("conv", torch::nn::Conv2d(options));
  sn = SpectralNormState(*this, conv->weight);
}

torch::Tensor SNConv2dImpl::forward(const torch::Tensor& x) {
  const auto& o = conv->options;
  auto w = sn.weight_sn(conv->weight, is_training());
  return F::conv2d(x, w,
                   F::Conv2dFuncOptions()
                       .bias(conv->bias)
                       .stride(o.stride())
                       .dilation(o.dilation())
                       .groups(o.groups())
                       .padding(o.padding()));
}

SNLinearImpl::SNLinearImpl(const torch::nn::LinearOptions& options) {
  linear = register_module("linear", torch::nn::Linear(options));
  sn = SpectralNormState(*this, linear->weight);
}

torch::Tensor SNLinearImpl::forward(const torch::Tensor& x) {
  return F::linear(x, sn.weight_sn(linear->weight, is_training()), linear->bias);
}

}  // namespace ali
