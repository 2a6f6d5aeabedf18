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

// Intra-op threads: all cores but `reserve` (at least one), e.g. a core left for the UI, or
// $ALI_THREADS when set (e.g. two runs side by side, one core each).
void configure_threads(int reserve = 0);

}  // namespace ali
