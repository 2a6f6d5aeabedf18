#include "ali/device.h"

#include <ATen/Parallel.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
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

int threads_from_environment(const char* value, int cores) {
  if (!value) return 0;
  std::string text = value;
  char* end = nullptr;
  errno = 0;
  long n = text.empty() ? 0 : std::strtol(text.c_str(), &end, 10);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || errno != 0 || *end != '\0' || n < 1 ||
      n > cores)
    throw Error("ALI_THREADS='" + text + "' is not a thread count: give a whole number from 1 to " +
                std::to_string(cores) + " (the cores of this machine)");
  return int(n);
}

int configure_threads(int reserve) {
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  // Validate before touching anything, so a bad value is an error on every call.
  const int from_env = threads_from_environment(std::getenv("ALI_THREADS"), cores);
  // Inter-op threads can be set once per process, before any inter-op work: none are wanted (the
  // programs run one op at a time per thread; parallelism is intra-op).
  static std::once_flag interop_once;
  std::call_once(interop_once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {  // the pool already started (an embedding program set it)
    }
  });
  const int n = from_env > 0 ? from_env : std::max(1, cores - reserve);
  at::set_num_threads(n);
  return n;
}

}  // namespace ali
