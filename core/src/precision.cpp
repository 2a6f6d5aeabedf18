#include "ali/precision.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <fstream>
#include <sstream>

#include "ali/error.h"

// LibTorch 2.4 replaced the per-device autocast setters with ones that take the device type; 1.13
// (Debian) has only the old ones. Every call goes through these five.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define ALI_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace ali {

bool autocast_active(torch::DeviceType t) {
#ifdef ALI_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(t);
#else
  return t == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

namespace {

void set_enabled(torch::DeviceType t, bool on) {
#ifdef ALI_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(t, on);
#else
  if (t == torch::kCPU)
    at::autocast::set_cpu_enabled(on);
  else
    at::autocast::set_enabled(on);
#endif
}

}  // namespace

at::ScalarType autocast_dtype(torch::DeviceType t) {
#ifdef ALI_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(t);
#else
  return t == torch::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

namespace {

void set_dtype(torch::DeviceType t, at::ScalarType d) {
#ifdef ALI_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(t, d);
#else
  if (t == torch::kCPU)
    at::autocast::set_autocast_cpu_dtype(d);
  else
    at::autocast::set_autocast_gpu_dtype(d);
#endif
}

bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w)
      if (w == flag) return true;
    return false;  // the first processor's flags speak for all
  }
  return false;
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "bf16") return Precision::BF16;
  if (name == "auto") return Precision::Auto;
  throw Error("unknown precision '" + name + "' (valid: fp32, bf16, auto)");
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::Auto: return "auto";
  }
  return "fp32";
}

bool bf16_native(const torch::Device& device) {
  // CUDA: the hook answers "compute capability 8 or more" for the current device (both LibTorch lines).
  if (device.is_cuda())
    return torch::cuda::is_available() && at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8();
  static const bool native = cpu_has_flag("avx512_bf16") || cpu_has_flag("amx_bf16");
  return native;
}

Precision resolve_precision(Precision p, const torch::Device& device) {
  if (p != Precision::Auto) return p;
  return bf16_native(device) ? Precision::BF16 : Precision::FP32;
}

AutocastGuard::AutocastGuard(Precision p, const torch::Device& device) {
  if (p != Precision::BF16) return;
  active_ = true;
  type_ = device.is_cuda() ? torch::kCUDA : torch::kCPU;
  prev_enabled_ = autocast_active(type_);
  prev_dtype_ = autocast_dtype(type_);
  set_enabled(type_, true);
  set_dtype(type_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(type_, prev_enabled_);
  set_dtype(type_, prev_dtype_);
}

AutocastPause::AutocastPause()
    : guard_(c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA})) {}


}  // namespace ali
