#include "ali/device.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <thread>

#include "ali/error.h"

namespace ali {

bool cuda_available() { return torch::cuda::is_available(); }

torch::Device resolve_device(const std::string& name) {
  if (name == "auto" || name.empty()) return cuda_available() ? torch::kCUDA : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!cuda_available())
      throw Error("device '" + name + "' asked for, but this LibTorch has no usable CUDA device");
    return torch::Device(name);
  }
  throw Error("unknown device '" + name + "' (use auto, cpu, cuda or cuda:N)");
}

std::string device_description(const torch::Device& d) {
  if (d.is_cpu())
    return "CPU (" + std::to_string(at::get_num_threads()) + " threads)";
  return "CUDA:" + std::to_string(d.has_index() ? d.index() : 0);
}

void configure_threads(int reserve) {
  // ALI_THREADS=N overrides (e.g. two runs side by side, one core each).
  if (const char* env = std::getenv("ALI_THREADS"); env && std::atoi(env) > 0) {
    at::set_num_threads(std::atoi(env));
    return;
  }
  int n = int(std::thread::hardware_concurrency());
  at::set_num_threads(std::max(1, n - reserve));
}

}  // namespace ali
