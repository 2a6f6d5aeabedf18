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

// Four 16-bit lanes per hash: element i uses lane i % 4 of hash(seed, i / 4).
template <typename T>
void fill_mask(T* out, int64_t n, uint64_t seed, uint32_t keep_below, T kept) {
  const uint64_t key = splitmix64(seed);
  at::parallel_for(0, (n + 3) / 4, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      uint64_t h = splitmix64(key ^ uint64_t(q) * 0xD1B54A32D192ED03ull);
      const int64_t base = q * 4;
      const int64_t lanes = std::min<int64_t>(4, n - base);
      for (int64_t l = 0; l < lanes; ++l) out[base + l] = uint32_t((h >> (16 * l)) & 0xFFFF) < keep_below ? kept : T(0);
    }
  });
}

}  // namespace

torch::Tensor dropout_mask(const torch::Tensor& like, double p, uint64_t seed) {
  if (!(p >= 0 && p < 1)) throw Error("dropout probability must be in [0, 1)");
  auto mask = torch::empty(like.sizes(), like.options().device(torch::kCPU).memory_format(torch::MemoryFormat::Contiguous));
  const uint32_t keep_below = uint32_t(std::llround((1.0 - p) * 65536.0));
  const double scale = 1.0 / (1.0 - p);
  const int64_t n = mask.numel();
  if (mask.scalar_type() == torch::kFloat)
    fill_mask(mask.data_ptr<float>(), n, seed, keep_below, float(scale));
  else if (mask.scalar_type() == torch::kBFloat16)
    fill_mask(mask.data_ptr<c10::BFloat16>(), n, seed, keep_below, c10::BFloat16(float(scale)));
  else if (mask.scalar_type() == torch::kDouble)
    fill_mask(mask.data_ptr<double>(), n, seed, keep_below, scale);
  else
    throw Error("dropout_mask: unsupported dtype");
  return mask.to(like.device());
}

DropoutImpl::DropoutImpl(double p_) : p(p_) {
  if (!(p >= 0 && p < 1)) throw Error("dropout probability must be in [0, 1)");
}

torch::Tensor DropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p == 0) return x;
  uint64_t seed;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
  }
  return x * dropout_mask(x, p, seed);
}

void DropoutImpl::pretty_print(std::ostream& stream) const { stream << "ali::Dropout(p=" << p << ")"; }

}  // namespace ali
