// BatchNorm2d followed by LeakyReLU, fused for training on channels_last tensors.
//
// A conv stack's layers end in BatchNorm and LeakyReLU. Run as LibTorch's two modules they cost six
// passes over the activation in a training step (statistics, normalise, activate; the activation's
// backward, then BatchNorm's two backward passes): 27 % of fmnist28's profiled bf16 step
// (bench_core --profile; the profiler inflates small ops, and the measured gain was 3 to 5 %,
// bench/README.md). Fused, forward is two passes (statistics; normalise and activate) and backward
// two (the two per-channel sums; the input gradient), with the activation's output never stored:
// backward recomputes its sign from the saved input.
#pragma once
#include <torch/torch.h>

namespace ali {

// leaky_relu(bn(x), slope) * mask, with the same results (to rounding), gradients and
// running-statistics updates as the modules. mask: a dropout mask (dropout.h) like x (dtype, shape,
// strides), or undefined for none; it is what the Dropout after the activation would multiply by.
// The fused path runs for a 4-d channels_last float or bfloat16 x with bn training, affine and
// tracking running statistics; anything else runs the modules.
torch::Tensor batch_norm_leaky_relu(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn,
                                    double slope, const torch::Tensor& mask = {});

// leaky_relu(x, slope) * mask (a layer without BatchNorm followed by dropout), one pass forward and
// one backward for a dense CPU float or bfloat16 x; mask as above (undefined: leaky_relu alone).
torch::Tensor leaky_relu_mask(const torch::Tensor& x, double slope, const torch::Tensor& mask);

// Whether batch_norm_leaky_relu takes its fused path for x (for the tests).
bool batch_norm_leaky_relu_fuses(const torch::Tensor& x, const torch::nn::BatchNorm2dImpl& bn);

}  // namespace ali
