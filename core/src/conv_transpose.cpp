#include "ali/conv_transpose.h"

#include <ATen/autocast_mode.h>
#include <torch/autograd.h>

#include <cmath>

#include "ali/conv.h"
#include "ali/precision.h"

namespace ali {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ConvTransposeFunction : public torch::autograd::Function<ConvTransposeFunction> {
 public:
  // The bias is added outside (ordinary autograd): LibTorch 1.13's custom functions take no undefined
  // tensor inputs.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               int64_t stride) {
    TORCH_CHECK(x.dim() == 4 && weight.dim() == 4, "conv_transpose2d_onednn takes 4-d input and weight");
    TORCH_CHECK(x.size(1) == weight.size(0), "conv_transpose2d_onednn: input has ", x.size(1),
                " channels, the weight expects ", weight.size(0));
    const auto dtype = conv_compute_dtype(x);
    // Autocast must not re-cast the ops below: they run in exactly the dtype chosen above.
    AutocastPause no_autocast;
    // NHWC when the weight or the input is (the trainer's channels_last policy), as conv2d does.
    const auto format = conv_memory_format(x, weight);
    auto xc = x.to(dtype).contiguous(format);
    auto wc = weight.to(dtype).contiguous(format);
    const int64_t k_h = weight.size(2), k_w = weight.size(3);
    std::vector<int64_t> out_shape{x.size(0), weight.size(1), (x.size(2) - 1) * stride + k_h,
                                   (x.size(3) - 1) * stride + k_w};
    auto y = conv_input_grad_pass(xc, wc, stride, out_shape, format);
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["format"] = int64_t(format);
    ctx->saved_data["x_dtype"] = int64_t(x.scalar_type());
    ctx->saved_data["w_dtype"] = int64_t(weight.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& xc = saved[0];
    const auto& wc = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    AutocastPause no_autocast;
    const auto format = at::MemoryFormat(ctx->saved_data["format"].toInt());
    auto dy = grads[0].to(xc.scalar_type()).contiguous(format);
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(0))
      dx = conv_forward_pass(dy, wc, stride).to(c10::ScalarType(ctx->saved_data["x_dtype"].toInt()));
    if (ctx->needs_input_grad(1))
      dw = conv_weight_grad_pass(dy, xc, wc.size(2), stride)
               .to(c10::ScalarType(ctx->saved_data["w_dtype"].toInt()));
    return {dx, dw, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor conv_transpose2d_onednn(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride) {
  auto y = ConvTransposeFunction::apply(x, weight, stride);
  return bias.defined() ? y + bias.to(y.scalar_type()).view({1, -1, 1, 1}) : y;
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
