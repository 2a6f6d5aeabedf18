#include "ali/conv_transpose.h"

#include <cmath>

#include "ali/conv.h"

namespace ali {

torch::Tensor conv_transpose2d_onednn(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride) {
  return conv_transpose2d_passes(x, weight, bias, stride, conv_compute_dtype(x));
}

ConvTranspose2dImpl::ConvTranspose2dImpl(const ConvTranspose2dOptions& o) : options(o) { reset(); }

void ConvTranspose2dImpl::reset() {
  const auto& o = options;
  weight = register_parameter("weight", torch::empty({o.in_channels, o.out_channels, o.kernel, o.kernel}));
  bias = o.bias ? register_parameter("bias", torch::empty({o.out_channels})) : torch::Tensor();
  // torch::nn::ConvTranspose2d's initialisation (kaiming_uniform with a = sqrt(5); fan_in from
  // weight.size(1) * k * k), so a freshly built model draws the same weights as before.
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double fan_in = double(o.out_channels * o.kernel * o.kernel);
    const double bound = 1.0 / std::sqrt(fan_in);
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor ConvTranspose2dImpl::forward(const torch::Tensor& x) {
  return conv_transpose2d_onednn(x, weight, bias, options.stride);
}

void ConvTranspose2dImpl::pretty_print(std::ostream& stream) const {
  stream << "ali::ConvTranspose2d(" << options.in_channels << ", " << options.out_channels
         << ", kernel_size=" << options.kernel << ", stride=" << options.stride << ", oneDNN)";
}

}  // namespace ali
