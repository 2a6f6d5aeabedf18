// The seam between "gradients computed" and "optimiser step" (DESIGN.md point 3). One process trains
// with the no-op GradientSync; data-parallel training gives every rank the same weights, its own
// slice of the global batch and its own noise, and averages the gradients over ranks here (c10d,
// ../shared/DISTRIBUTED.md). Which process is which comes from the launcher's environment.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ali {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual int rank() const { return 0; }
  virtual int world_size() const { return 1; }
  // Replaces each defined .grad of `params` by its mean over ranks (every rank passes the same list).
  virtual void average_gradients(const std::vector<torch::Tensor>& params) {}
  // Sums `values` over ranks, in place (any dtype the backend reduces; CPU tensors for scalars).
  virtual void sum(torch::Tensor& values) {}
  // Copies rank 0's `tensors` into every rank's, in place.
  virtual void broadcast(const std::vector<torch::Tensor>& tensors) {}
  // Collective: true on every rank when `flag` is true on any.
  bool any(bool flag);
};

// Where this process sits in a launch: torchrun's RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE,
// Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID or Open MPI's OMPI_COMM_WORLD_* variables; the
// rendezvous at MASTER_ADDR (default 127.0.0.1):MASTER_PORT (default 29500).
struct LaunchEnv {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher;  // "torchrun", "slurm", "openmpi" or empty (none)
  // torchrun's agent serves the rendezvous store itself (TORCHELASTIC_USE_AGENT_STORE=True): every
  // process is its client, under the prefix of the attempt (TORCHELASTIC_RESTART_COUNT, which
  // --max_restarts raises when it relaunches the processes).
  bool agent_store = false;
  int restart_count = 0;
};

// The launch described by `getenv` (the real environment by default); nullopt when no launcher
// variables are set. Throws ali::Error naming the variable and its value when one is malformed or
// the set is inconsistent (RANK >= WORLD_SIZE, RANK without WORLD_SIZE, ...).
std::optional<LaunchEnv> launch_from_environment(
    const std::function<const char*(const char*)>& getenv = nullptr);

// Whether this build has c10d (ALI_DISTRIBUTED): without it, a launch of more than one process is
// refused with distributed_unsupported_message().
bool distributed_supported();
std::string distributed_unsupported_message(const LaunchEnv& env);

// Joins the process group of `env` (Gloo for CPUs; NCCL for CUDA where built): rank 0 serves the
// rendezvous; every rank checks that they agree on the world size and that no rank appears twice.
// A peer that does not arrive, dies or hangs becomes ali::Error after `timeout`, never a hang.
std::shared_ptr<GradientSync> make_distributed_sync(const LaunchEnv& env,
                                                    std::chrono::milliseconds timeout,
                                                    torch::Device device);

}  // namespace ali
