#include "ali/conv.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "ali/precision.h"
#include "cpu_kernels.h"

namespace ali {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
constexpr auto kNHWC = at::MemoryFormat::ChannelsLast;

// Output pixels at most this many: the weight gradient is a matrix product over gathered patches.
constexpr int64_t kMatmulMaxOutputPixels = 64;
// ... and at most this many: so is the input gradient, its patches scattered back (col2im).
constexpr int64_t kCol2imMaxOutputPixels = 9;

bool is_nhwc(const torch::Tensor& t) { return t.dim() == 4 && t.is_contiguous(kNHWC); }

// A 4-d tensor (N x C x H x W sizes) as rows of its values in its memory order: N x (C H W) for NCHW,
// N x (H W C) for NHWC; a view where t is dense in that order, else a copy.
torch::Tensor rows(const torch::Tensor& t, at::MemoryFormat format) {
  return format == kNHWC ? t.permute({0, 2, 3, 1}).reshape({t.size(0), -1})
                         : t.contiguous().view({t.size(0), -1});
}

// An NHWC map's pixels as rows: N H W x C (a view of an NHWC-dense t).
torch::Tensor pixels(const torch::Tensor& t) {
  return t.permute({0, 2, 3, 1}).reshape({-1, t.size(1)});
}

// The inverse: rows in `format` order back to N x C x H x W (a view, strides of that format).
torch::Tensor unrows(const torch::Tensor& r, torch::IntArrayRef sizes, at::MemoryFormat format) {
  return format == kNHWC ? r.view({sizes[0], sizes[2], sizes[3], sizes[1]}).permute({0, 3, 1, 2})
                         : r.view(sizes);
}

at::MemoryFormat format_of(const torch::Tensor& t) {
  return is_nhwc(t) && !t.is_contiguous() ? kNHWC : at::MemoryFormat::Contiguous;
}

// N OH OW x (k k C) patches of an NHWC map: row (n, oh, ow) holds the window's pixels, each C values.
torch::Tensor im2col_nhwc(const torch::Tensor& x, int64_t k, int64_t stride) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1;
  auto windows = x.as_strided({N, OH, OW, k, k, C},
                              {H * W * C, stride * W * C, stride * C, W * C, C, 1}, x.storage_offset());
  return windows.reshape({N * OH * OW, k * k * C});
}

// One image's input gradient (H x W x C) from its patch gradients (OH OW rows of k k C): each row
// added back where im2col took it from, summed in fp32 (acc: H W C floats).
template <typename T>
ALI_INLINE void col2im_image_k(const T* __restrict cols, T* __restrict out, float* __restrict acc,
                               int64_t H, int64_t W, int64_t C, int64_t k, int64_t stride,
                               int64_t OH, int64_t OW) {
  using namespace cpu_kernels;
  std::fill_n(acc, H * W * C, 0.f);
  const int64_t span = k * C;  // one window row: k pixels of C values, contiguous in NHWC
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T* __restrict row = cols + (oh * OW + ow) * k * span;
      for (int64_t kh = 0; kh < k; ++kh) {
        float* __restrict dst = acc + ((oh * stride + kh) * W + ow * stride) * C;
        const T* __restrict src = row + kh * span;
        for (int64_t j = 0; j < span; ++j) dst[j] += load(src + j);
      }
    }
  for (int64_t i = 0; i < H * W * C; ++i) store(out + i, acc[i]);
}
#define ALI_INSTANTIATE(T)                                                                     \
  ALI_KERNEL void col2im_image(const T* cols, T* out, float* acc, int64_t H, int64_t W,       \
                               int64_t C, int64_t k, int64_t stride, int64_t OH, int64_t OW) { \
    col2im_image_k(cols, out, acc, H, W, C, k, stride, OH, OW);                                \
  }
ALI_INSTANTIATE(float)
ALI_INSTANTIATE(uint16_t)
#undef ALI_INSTANTIATE

// N x C x H x W (NHWC) from N OH OW x (k k C) patch gradients, in `cols`' dtype (float or bf16).
torch::Tensor col2im_nhwc(const torch::Tensor& cols, torch::IntArrayRef x_sizes, int64_t k,
                          int64_t stride) {
  const int64_t N = x_sizes[0], C = x_sizes[1], H = x_sizes[2], W = x_sizes[3];
  const int64_t OH = (H - k) / stride + 1, OW = (W - k) / stride + 1;
  auto out = at::empty(x_sizes, cols.options().memory_format(kNHWC));
  const bool bf16 = cols.scalar_type() == at::kBFloat16;
  auto* src = static_cast<const char*>(cols.data_ptr());
  auto* dst = static_cast<char*>(out.data_ptr());
  const int64_t in_bytes = OH * OW * k * k * C * cols.element_size(),
                out_bytes = H * W * C * out.element_size();
  at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<float> acc(static_cast<size_t>(H * W * C));
    for (int64_t n = n0; n < n1; ++n) {
      if (bf16)
        col2im_image(reinterpret_cast<const uint16_t*>(src + n * in_bytes),
                     reinterpret_cast<uint16_t*>(dst + n * out_bytes), acc.data(), H, W, C, k,
                     stride, OH, OW);
      else
        col2im_image(reinterpret_cast<const float*>(src + n * in_bytes),
                     reinterpret_cast<float*>(dst + n * out_bytes), acc.data(), H, W, C, k, stride,
                     OH, OW);
    }
  });
  return out;
}

}  // namespace

bool conv_is_full_patch(torch::IntArrayRef x_sizes, int64_t kernel) {
  return x_sizes.size() == 4 && x_sizes[2] == kernel && x_sizes[3] == kernel;
}

bool conv_weight_grad_uses_matmul(const torch::Tensor& x, const torch::Tensor& dy, int64_t kernel) {
  if (!x.device().is_cpu()) return false;
  if (conv_is_full_patch(x.sizes(), kernel)) return true;
  return x.scalar_type() == at::kBFloat16 && is_nhwc(x) && is_nhwc(dy) &&
         dy.size(2) * dy.size(3) <= kMatmulMaxOutputPixels;
}

bool conv_input_grad_uses_matmul(const torch::Tensor& dy, torch::IntArrayRef x_sizes, int64_t kernel,
                                 at::MemoryFormat format) {
  if (!dy.device().is_cpu()) return false;
  if (conv_is_full_patch(x_sizes, kernel)) return true;
  return dy.scalar_type() == at::kBFloat16 && format == kNHWC && is_nhwc(dy) &&
         dy.size(2) * dy.size(3) <= kCol2imMaxOutputPixels;
}

at::ScalarType conv_compute_dtype(const torch::Tensor& x) {
  if (x.device().is_cpu() && autocast_active(torch::kCPU)) return autocast_dtype(torch::kCPU);
  if (x.device().is_cuda() && autocast_active(torch::kCUDA)) return autocast_dtype(torch::kCUDA);
  return x.scalar_type();
}

at::MemoryFormat conv_memory_format(const torch::Tensor& x, const torch::Tensor& weight) {
  return weight.suggest_memory_format() == kNHWC ? kNHWC : x.suggest_memory_format();
}

torch::Tensor conv_forward_pass(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride) {
  const int64_t k = weight.size(2);
  if (!x.device().is_cpu() || !conv_is_full_patch(x.sizes(), k))
    return at::conv2d(x, weight, {}, {stride, stride});
  const auto format = format_of(x);
  const int64_t n = x.size(0), cout = weight.size(0);
  auto y = at::mm(rows(x, format), rows(weight, format).t());  // N x Cout
  // N x Cout x 1 x 1 with the strides of `format` (for a 1 x 1 map only the channel stride differs).
  return format == kNHWC ? y.as_strided({n, cout, 1, 1}, {cout, 1, cout, cout}) : y.view({n, cout, 1, 1});
}

torch::Tensor conv_input_grad_pass(const torch::Tensor& dy, const torch::Tensor& weight,
                                   int64_t stride, torch::IntArrayRef x_sizes,
                                   at::MemoryFormat format) {
  const int64_t k = weight.size(2);
  if (!conv_input_grad_uses_matmul(dy, x_sizes, k, format)) {
    // Only the shape, dtype and memory format of `like` are read for the data gradient.
    auto like = at::empty(x_sizes, dy.options().memory_format(format));
    return std::get<0>(at::convolution_backward(dy, like, weight, c10::nullopt, {stride, stride},
                                                {0, 0}, {1, 1}, false, {0, 0}, 1,
                                                {true, false, false}));
  }
  if (conv_is_full_patch(x_sizes, k)) {
    auto dx = at::mm(dy.reshape({dy.size(0), -1}), rows(weight, format));  // N x (k k Cin)
    return unrows(dx, x_sizes, format);
  }
  return col2im_nhwc(at::mm(pixels(dy), rows(weight, kNHWC)), x_sizes, k, stride);
}

torch::Tensor conv_weight_grad_pass(const torch::Tensor& x, const torch::Tensor& dy, int64_t kernel,
                                    int64_t stride) {
  const int64_t cout = dy.size(1), cin = x.size(1);
  if (!conv_weight_grad_uses_matmul(x, dy, kernel)) {
    auto like = at::empty({cout, cin, kernel, kernel}, x.options().memory_format(format_of(x)));
    return std::get<1>(at::convolution_backward(dy, x, like, c10::nullopt, {stride, stride}, {0, 0},
                                                {1, 1}, false, {0, 0}, 1, {false, true, false}));
  }
  if (conv_is_full_patch(x.sizes(), kernel)) {
    const auto format = format_of(x);
    auto dw = at::mm(dy.reshape({dy.size(0), cout}).t(), rows(x, format));  // Cout x (k k Cin)
    return unrows(dw, {cout, cin, kernel, kernel}, format);
  }
  auto dw = at::mm(pixels(dy).t(), im2col_nhwc(x, kernel, stride));  // Cout x (k k Cin)
  return unrows(dw, {cout, cin, kernel, kernel}, kNHWC);
}

namespace {

// A convolution (transposed = 0) or transposed convolution (1) over the passes above: a transposed
// convolution's forward is the convolution's input gradient, its input gradient the convolution's
// forward, and its weight gradient the convolution's with input and output swapped
// (pytorch/pytorch#68775). The bias is added outside (ordinary autograd): LibTorch 1.13's custom
// functions take no undefined tensor inputs.
class ConvFunction : public torch::autograd::Function<ConvFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               int64_t stride, int64_t dtype, int64_t transposed) {
    const char* name = transposed ? "conv_transpose2d" : "conv2d";
    TORCH_CHECK(x.dim() == 4 && weight.dim() == 4 && weight.size(2) == weight.size(3), name,
                " takes 4-d input and a square 4-d weight");
    const int64_t expects = transposed ? weight.size(0) : weight.size(1);
    TORCH_CHECK(x.size(1) == expects, name, ": input has ", x.size(1), " channels, the weight expects ",
                expects);
    TORCH_CHECK(transposed || (x.size(2) >= weight.size(2) && x.size(3) >= weight.size(3)), name,
                ": the input map is smaller than the kernel");
    AutocastPause no_autocast;  // exactly the dtype chosen by the caller
    // NHWC when the weight or the input is (the trainer's channels_last policy), as conv2d does.
    const auto format = conv_memory_format(x, weight);
    const auto type = c10::ScalarType(dtype);
    auto xc = x.to(type).contiguous(format);
    auto wc = weight.to(type).contiguous(format);
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["format"] = int64_t(format);
    ctx->saved_data["transposed"] = transposed;
    ctx->saved_data["x_dtype"] = int64_t(x.scalar_type());
    ctx->saved_data["w_dtype"] = int64_t(weight.scalar_type());
    if (!transposed) return conv_forward_pass(xc, wc, stride);
    const int64_t k = weight.size(2);
    return conv_input_grad_pass(
        xc, wc, stride,
        {x.size(0), weight.size(1), (x.size(2) - 1) * stride + k, (x.size(3) - 1) * stride + k},
        format);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& xc = saved[0];
    const auto& wc = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const bool transposed = ctx->saved_data["transposed"].toInt() != 0;
    AutocastPause no_autocast;
    const auto format = at::MemoryFormat(ctx->saved_data["format"].toInt());
    auto dy = grads[0].to(xc.scalar_type()).contiguous(format);
    torch::Tensor dx, dw;
    if (ctx->needs_input_grad(0))
      dx = (transposed ? conv_forward_pass(dy, wc, stride)
                       : conv_input_grad_pass(dy, wc, stride, xc.sizes(), format))
               .to(c10::ScalarType(ctx->saved_data["x_dtype"].toInt()));
    if (ctx->needs_input_grad(1))
      dw = (transposed ? conv_weight_grad_pass(dy, xc, wc.size(2), stride)
                       : conv_weight_grad_pass(xc, dy, wc.size(2), stride))
               .to(c10::ScalarType(ctx->saved_data["w_dtype"].toInt()));
    return {dx, dw, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor with_bias(const torch::Tensor& y, const torch::Tensor& bias) {
  return bias.defined() ? y + bias.to(y.scalar_type()).view({1, -1, 1, 1}) : y;
}

}  // namespace

torch::Tensor conv2d_passes(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias, int64_t stride, at::ScalarType dtype) {
  return with_bias(ConvFunction::apply(x, weight, stride, int64_t(dtype), int64_t(0)), bias);
}

torch::Tensor conv_transpose2d_passes(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride,
                                      at::ScalarType dtype) {
  return with_bias(ConvFunction::apply(x, weight, stride, int64_t(dtype), int64_t(1)), bias);
}

}  // namespace ali
