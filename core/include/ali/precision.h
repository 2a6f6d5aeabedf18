// Training precision: fp32, or bf16 autocast around the forward passes (fp32 master weights, optimiser
// state and losses), and the one place that talks to LibTorch's autocast API (it changed after 1.13).
#pragma once
#include <torch/torch.h>

#include <string>

namespace ali {

enum class Precision { FP32, BF16, Auto };

// "fp32", "bf16", "auto"; anything else throws ali::Error listing the valid names.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision p);

// True where bf16 matrix work runs natively: AVX512_BF16 or AMX on a CPU, compute capability 8+ on CUDA.
bool bf16_native(const torch::Device& device);
// Auto -> BF16 where native, else FP32; FP32 and BF16 are returned as they are.
Precision resolve_precision(Precision p, const torch::Device& device);

// While alive, ops on `device`'s type that autocast casts (conv, linear, matmul) run in bf16 on this
// thread, when `p` is BF16; does nothing for FP32. Nests; restores the previous state.
class AutocastGuard {
 public:
  AutocastGuard(Precision p, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType type_ = torch::kCPU;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

// While alive, autocast does nothing on this thread (e.g. around a backward pass, which should run in
// the dtypes its forward chose, or ops that must stay fp32).
class AutocastPause {
 public:
  AutocastPause();

 private:
  c10::impl::ExcludeDispatchKeyGuard guard_;
};

// Whether autocast is on for `type` on this thread, and its dtype.
bool autocast_active(torch::DeviceType type);
at::ScalarType autocast_dtype(torch::DeviceType type);

}  // namespace ali
