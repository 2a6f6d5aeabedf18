// The three passes of a convolution (padding 0, dilation 1, one group: what every preset uses), each on
// the path measured fastest on the CPU, and Conv2d as an autograd function over them.
//
// oneDNN 2.6 (LibTorch 1.13) runs every pass itself, but its bf16 weight gradient is slow on small maps:
// on this AMX CPU, 100 x 64 x 8 x 8 -> 128 x 3 x 3 (k4 s2) takes 2.9 ms for the weight gradient
// against 0.44 ms for the forward, and 200 x 512 -> 512 on 1 x 1 maps 5.2 ms against 0.58. The
// weight gradient is one matrix product, dW[Cout, k k Cin] = dY^T [Cout, N OH OW] x cols[N OH OW, k k Cin]
// over the input's patches (im2col); on NHWC maps the patches are rows of contiguous pixels, cheap to
// gather, and the product runs on oneDNN's matmul (AMX in bf16): 0.50 and 0.15 ms for those two.
// On large maps the gather costs more than it saves (28 -> 24, k5: 1.7 ms against 16), so:
//   weight gradient  im2col + matmul for bf16 NHWC maps whose output has at most 64 pixels; oneDNN else
//   input gradient   matmul + col2im (the patches' gradients scattered back, summed in fp32) for bf16
//                    NHWC outputs of at most 9 pixels (3 x 3): 3 % of a fmnist28 step
//   full patch       (the map is exactly one kernel window, so the output is 1 x 1, e.g. D's joint
//                    layers and every net's last layer): all three passes are matrix products, in any
//                    float dtype (fp32 too: 1.5 -> 0.27 ms for 100 x 128 x 3 x 3 -> 256, weight grad)
//   everything else  oneDNN (at::conv2d, at::convolution_backward), and always on CUDA (cuDNN).
// (Figures: one op each, 2 threads, batch 100, medians. The training step: bench/README.md.)
#pragma once
#include <torch/torch.h>

namespace ali {

// Every pass takes its tensors in the dtype to compute in and in one memory format (NCHW or
// channels_last) and returns that dtype and format. Square kernels; the map may be any size >= kernel.
// y = conv(x, weight): x N x Cin x H x W, weight Cout x Cin x k x k.
torch::Tensor conv_forward_pass(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride);
// dx from dy (the transposed convolution of dy); x_sizes: the input's N, Cin, H, W; dx comes back in
// `format`.
torch::Tensor conv_input_grad_pass(const torch::Tensor& dy, const torch::Tensor& weight,
                                   int64_t stride, torch::IntArrayRef x_sizes,
                                   at::MemoryFormat format);
// dW from the input x and dy: Cout x Cin x k x k.
torch::Tensor conv_weight_grad_pass(const torch::Tensor& x, const torch::Tensor& dy, int64_t kernel,
                                    int64_t stride);

// Which path each pass takes for these shapes and this dtype/device (for tests and benchmarks).
bool conv_is_full_patch(torch::IntArrayRef x_sizes, int64_t kernel);
bool conv_weight_grad_uses_matmul(const torch::Tensor& x, const torch::Tensor& dy, int64_t kernel);
bool conv_input_grad_uses_matmul(const torch::Tensor& dy, torch::IntArrayRef x_sizes, int64_t kernel,
                                 at::MemoryFormat format);

// conv2d(x, weight, bias, stride) with padding 0, differentiable in all three, over the passes above.
// Computes in `dtype` (the caller's autocast choice: bf16, or x's own dtype); the output is in that
// dtype, gradients come back in each input's own dtype (fp32 master weights stay fp32). NHWC when
// the weight or x is channels_last, as at::conv2d chooses.
torch::Tensor conv2d_passes(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias, int64_t stride, at::ScalarType dtype);

// The transposed convolution over the same passes (its forward is the convolution's input gradient):
// x N x Cin x H x W, weight Cin x Cout x k x k (ConvTranspose2d's layout), output N x Cout x
// ((H-1)*stride + k) x ((W-1)*stride + k); dtypes and formats as conv2d_passes.
torch::Tensor conv_transpose2d_passes(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride,
                                      at::ScalarType dtype);

// The dtype a convolution of x computes in: autocast's (bf16) where it is on for x's device, else x's.
at::ScalarType conv_compute_dtype(const torch::Tensor& x);
// The memory format conv2d would compute in for x and this weight: NHWC if either is channels_last.
at::MemoryFormat conv_memory_format(const torch::Tensor& x, const torch::Tensor& weight);

}  // namespace ali
