// A transposed convolution computed as the backward-data pass of the ordinary convolution that has the
// same weight layout (pytorch/pytorch#68775). LibTorch 1.13 routes ConvTranspose2d to
// slow_conv_transpose2d on the CPU (per-sample GEMM + col2im) and mis-routes it on bf16 tensors; written
// this way every pass runs on oneDNN (or a matrix product where that is faster: conv.h), in fp32 or
// (under CPU autocast) bf16:
//   forward          y  = conv_backward_data(x; W)              (conv_input_grad_pass)
//   input gradient   dx = conv2d(dy, W)                         (conv_forward_pass)
//   weight gradient  dW = conv_backward_weight(input dy, grad x)  (conv_weight_grad_pass)
//   bias             added with ordinary autograd ops
// Padding 0, dilation 1, groups 1: what every preset uses.
#pragma once
#include <torch/torch.h>

namespace ali {

// x: B x Cin x H x W, weight: Cin x Cout x k x k (ConvTranspose2d's layout), bias: Cout or undefined.
// Output B x Cout x ((H-1)*stride + k) x ((W-1)*stride + k). Differentiable in all three.
// Under CPU autocast (bf16) x and weight are cast to bf16 and so is the output; gradients come back in
// each input's own dtype (fp32 master weights stay fp32).
torch::Tensor conv_transpose2d_onednn(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride);

struct ConvTranspose2dOptions {
  int64_t in_channels = 1, out_channels = 1, kernel = 1, stride = 1;
  bool bias = true;
};

// Drop-in for torch::nn::ConvTranspose2d in the presets: the same parameter names ("weight", "bias"),
// shapes and initialisation, so checkpoints written with either load into the other.
class ConvTranspose2dImpl : public torch::nn::Cloneable<ConvTranspose2dImpl> {
 public:
  explicit ConvTranspose2dImpl(const ConvTranspose2dOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  ConvTranspose2dOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(ConvTranspose2d);

}  // namespace ali
