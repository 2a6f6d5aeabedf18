// Spectral normalisation (Miyato et al. 2018), which LibTorch's C++ API lacks: a layer whose weight
// W is used as W / sigma(W), sigma estimated by power iteration on W reshaped to (out, in * k * k).
// As torch.nn.utils.spectral_norm: u and v are buffers initialised N(0, 1) and normalised; each
// forward in training mode runs one power iteration (no gradient through it) and then uses
// sigma = u . (W v) with gradients flowing through W only; evaluation mode reuses the stored u, v.
#pragma once
#include <torch/torch.h>

namespace ali {

// The power-iteration state of one weight; `weight_sn` returns W / sigma.
class SpectralNormState {
 public:
  SpectralNormState() = default;
  // Registers buffers "u" (out) and "v" (in * k * k) on `owner`.
  SpectralNormState(torch::nn::Module& owner, const torch::Tensor& weight);
  torch::Tensor weight_sn(const torch::Tensor& weight, bool training, int iterations = 1);
  // sigma with the current u, v (no iteration), for tests and monitoring.
  torch::Tensor sigma(const torch::Tensor& weight) const;

 private:
  torch::Tensor u_, v_;
};

class SNConv2dImpl : public torch::nn::Module {
 public:
  explicit SNConv2dImpl(const torch::nn::Conv2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};  // holds the unnormalised weight (the parameter Adam updates)
  SpectralNormState sn;
};
TORCH_MODULE(SNConv2d);

class SNLinearImpl : public torch::nn::Module {
 public:
  explicit SNLinearImpl(const torch::nn::LinearOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear linear{nullptr};
  SpectralNormState sn;
};
TORCH_MODULE(SNLinear);

}  // namespace ali
