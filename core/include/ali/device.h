// Run-time device choice and thread set-up, done once at a program's start.
#pragma once
#include <torch/torch.h>

#include <string>

namespace ali {

// "auto" (CUDA when LibTorch has it), "cpu", "cuda" or "cuda:N". Throws ali::Error when CUDA is asked
// for but not available.
torch::Device resolve_device(const std::string& name);
bool cuda_available();
std::string device_description(const torch::Device& d);

// The thread policy, in one place, called once at a program's start: intra-op threads = the cores
// not reserved (the CLI reserves none; the explorer one, for its UI thread and image decoding), at least
// one; $ALI_THREADS overrides (e.g. two runs side by side, one core each) and must be a whole number
// from 1 to the number of cores, else ali::Error. Inter-op threads: one, set the first time.
// Returns the intra-op thread count. More threads than free cores is never wanted: oversubscribed
// oneDNN/OpenMP barriers spin, and a step gets 30x slower.
int configure_threads(int reserve = 0);
// $ALI_THREADS's value checked against `cores`: 0 when unset, else the count; throws when invalid.
int threads_from_environment(const char* value, int cores);

}  // namespace ali
