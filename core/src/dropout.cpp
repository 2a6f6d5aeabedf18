#include "ali/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include "ali/error.h"

namespace ali {
namespace {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Four 16-bit lanes per hash: element i (its index in N C H W order) uses lane i % 4 of hash(seed, i / 4).
inline uint64_t quad_hash(uint64_t key, int64_t q) {
  return splitmix64(key ^ uint64_t(q) * 0xD1B54A32D192ED03ull);
}
template <typename T>
inline T lane_value(uint64_t h, int64_t lane, uint32_t keep_below, T kept) {
  return uint32_t((h >> (16 * lane)) & 0xFFFF) < keep_below ? kept : T(0);
}

template <typename T>
void fill_mask(T* out, int64_t n, uint64_t seed, uint32_t keep_below, T kept) {
  const uint64_t key = splitmix64(seed);
  at::parallel_for(0, (n + 3) / 4, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      uint64_t h = quad_hash(key, q);
      const int64_t base = q * 4;
      const int64_t lanes = std::min<int64_t>(4, n - base);
      for (int64_t l = 0; l < lanes; ++l) out[base + l] = lane_value(h, l, keep_below, kept);
    }
  });
}

// The same mask stored N H W C (channels_last): each element keeps its N C H W index's value, so the
// mask does not depend on the layout, and multiplying an NHWC tensor reads both alike.
template <typename T>
void fill_mask_nhwc(T* out, const torch::IntArrayRef sizes, uint64_t seed, uint32_t keep_below,
                    T kept) {
  const uint64_t key = splitmix64(seed);
  const int64_t C = sizes[1], HW = sizes[2] * sizes[3];
  at::parallel_for(0, sizes[0] * HW, 256, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {  // s: one pixel of one image, C values in a row
      const int64_t first = (s / HW) * C * HW + s % HW;  // N C H W index of channel 0
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = first + c * HW;
        out[s * C + c] = lane_value(quad_hash(key, i / 4), i % 4, keep_below, kept);
      }
    }
  });
}

template <typename T>
void fill(torch::Tensor& mask, bool nhwc, uint64_t seed, uint32_t keep_below, T kept) {
  if (nhwc)
    fill_mask_nhwc(mask.data_ptr<T>(), mask.sizes(), seed, keep_below, kept);
  else
    fill_mask(mask.data_ptr<T>(), mask.numel(), seed, keep_below, kept);
}

}  // namespace

torch::Tensor dropout_mask(const torch::Tensor& like, double p, uint64_t seed) {
  if (!(p >= 0 && p < 1)) throw Error("dropout probability must be in [0, 1)");
  const bool nhwc = like.dim() == 4 && !like.is_contiguous() &&
                    like.is_contiguous(torch::MemoryFormat::ChannelsLast);
  auto mask = torch::empty(like.sizes(), like.options().device(torch::kCPU).memory_format(
                                             nhwc ? torch::MemoryFormat::ChannelsLast
                                                  : torch::MemoryFormat::Contiguous));
  const uint32_t keep_below = uint32_t(std::llround((1.0 - p) * 65536.0));
  const double scale = 1.0 / (1.0 - p);
  if (mask.scalar_type() == torch::kFloat)
    fill(mask, nhwc, seed, keep_below, float(scale));
  else if (mask.scalar_type() == torch::kBFloat16)
    fill(mask, nhwc, seed, keep_below, c10::BFloat16(float(scale)));
  else if (mask.scalar_type() == torch::kDouble)
    fill(mask, nhwc, seed, keep_below, scale);
  else
    throw Error("dropout_mask: unsupported dtype");
  return mask.to(like.device());
}

DropoutImpl::DropoutImpl(double p_) : p(p_) {
  if (!(p >= 0 && p < 1)) throw Error("dropout probability must be in [0, 1)");
}

torch::Tensor DropoutImpl::mask_for(const torch::Tensor& x) {
  if (!is_training() || p == 0) return {};
  uint64_t seed;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
  }
  return dropout_mask(x, p, seed);
}

torch::Tensor DropoutImpl::forward(const torch::Tensor& x) {
  auto mask = mask_for(x);
  return mask.defined() ? x * mask : x;
}

void DropoutImpl::pretty_print(std::ostream& stream) const { stream << "ali::Dropout(p=" << p << ")"; }

}  // namespace ali
