#include "ali/gradient_sync.h"

#include <cerrno>
#include <cstdlib>
#include <map>

#include "ali/error.h"

#ifdef ALI_DISTRIBUTED
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define ALI_HAVE_NCCL 1
#endif
#endif

namespace ali {

bool GradientSync::any(bool flag) {
  if (world_size() <= 1) return flag;
  auto v = torch::full({1}, flag ? 1.0 : 0.0, torch::kDouble);
  sum(v);
  return v.item<double>() > 0;
}

namespace {

// A whole number in [lo, hi] from variable `name`, or an error naming both.
int parse_int(const char* name, const char* value, long lo, long hi) {
  std::string text = value;
  char* end = nullptr;
  errno = 0;
  long n = text.empty() ? 0 : std::strtol(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || *end != '\0' || n < lo || n > hi)
    throw Error(std::string(name) + "='" + text + "' is not a whole number from " +
                std::to_string(lo) + " to " + std::to_string(hi));
  return int(n);
}

}  // namespace

std::optional<LaunchEnv> launch_from_environment(
    const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* {
    return getenv_fn ? getenv_fn(name) : std::getenv(name);
  };
  // One launcher's set of (rank, size, local rank) variables; torchrun's first: it may run under
  // Slurm or mpirun, and then its own variables describe this process.
  struct Names {
    const char *launcher, *rank, *size, *local;
  };
  const Names sets[] = {{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
                        {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
                        {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                         "OMPI_COMM_WORLD_LOCAL_RANK"}};
  constexpr long kMaxWorld = 1 << 20;
  for (const Names& n : sets) {
    const char* rank = get(n.rank);
    const char* size = get(n.size);
    if (!rank && !size) continue;
    if (!rank || !size)
      throw Error(std::string(rank ? n.rank : n.size) + " is set but " + (rank ? n.size : n.rank) +
                  " is not: a " + n.launcher + " launch sets both");
    LaunchEnv e;
    e.launcher = n.launcher;
    e.world_size = parse_int(n.size, size, 1, kMaxWorld);
    e.rank = parse_int(n.rank, rank, 0, kMaxWorld);
    if (e.rank >= e.world_size)
      throw Error(std::string(n.rank) + "=" + rank + " is not below " + n.size + "=" + size +
                  " (ranks run from 0 to " + std::to_string(e.world_size - 1) + ")");
    if (const char* local = get(n.local)) e.local_rank = parse_int(n.local, local, 0, kMaxWorld);
    const char* local_size = get("LOCAL_WORLD_SIZE");
    if (!local_size && e.launcher == "openmpi") local_size = get("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local_size && e.launcher == "slurm") local_size = get("SLURM_NTASKS_PER_NODE");
    // Slurm writes "2(x3)" for uneven layouts: then a node's share is unknown, take the world.
    e.local_world_size = e.world_size;
    if (local_size && *local_size &&
        std::string(local_size).find_first_not_of("0123456789") == std::string::npos)
      e.local_world_size = parse_int("LOCAL_WORLD_SIZE", local_size, 1, kMaxWorld);
    if (e.local_rank >= e.local_world_size) e.local_world_size = e.local_rank + 1;
    if (const char* addr = get("MASTER_ADDR")) {
      if (!*addr) throw Error("MASTER_ADDR is set but empty: give the host name or address of rank 0");
      e.master_addr = addr;
    }
    if (const char* port = get("MASTER_PORT")) e.master_port = parse_int("MASTER_PORT", port, 1, 65535);
    if (e.launcher == "torchrun") {
      const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
      e.agent_store = agent && std::string(agent) == "True";
      if (const char* restarts = get("TORCHELASTIC_RESTART_COUNT"))
        e.restart_count = parse_int("TORCHELASTIC_RESTART_COUNT", restarts, 0, kMaxWorld);
    }
    return e;
  }
  return std::nullopt;
}

std::string distributed_unsupported_message(const LaunchEnv& env) {
  return "this build of ali has no distributed support (built without c10d/Gloo: install libgloo-dev "
         "and rebuild with -DALI_DISTRIBUTED=ON), but the " +
         (env.launcher.empty() ? std::string("launch") : env.launcher + " launch") + " asks for " +
         std::to_string(env.world_size) + " processes";
}

#ifndef ALI_DISTRIBUTED

bool distributed_supported() { return false; }

std::shared_ptr<GradientSync> make_distributed_sync(const LaunchEnv& env, std::chrono::milliseconds,
                                                    torch::Device) {
  throw Error(distributed_unsupported_message(env));
}

#else

bool distributed_supported() { return true; }

namespace {

std::string describe(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) {
    std::string s = c->what_without_backtrace();
    // c10 appends the C++ frames after the message; the first line says what happened.
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
  }
  return e.what();
}

class C10dGradientSync : public GradientSync {
 public:
  C10dGradientSync(const LaunchEnv& env, std::chrono::milliseconds timeout, torch::Device device)
      : env_(env), timeout_(timeout), device_(device) {
    const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
    c10::intrusive_ptr<c10d::Store> store;
    try {
      c10d::TCPStoreOptions o;
      o.port = uint16_t(env.master_port);
      o.isServer = env.rank == 0 && !env.agent_store;  // under torchrun its agent serves the store
      o.numWorkers = size_t(env.world_size);
      o.waitWorkers = false;  // the handshake below waits, with our timeout and our message
      o.timeout = timeout;
      store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    } catch (const std::exception& e) {
      throw Error(env.rank == 0 && !env.agent_store
                      ? "rank 0 cannot serve the rendezvous at MASTER_ADDR:MASTER_PORT=" + where +
                            " (" + describe(e) + "): is the port in use, or the address not this host's?"
                      : "rank " + std::to_string(env.rank) + " cannot reach the master at " +
                            "MASTER_ADDR:MASTER_PORT=" + where + " within " +
                            std::to_string(timeout.count() / 1000) + " s (" + describe(e) + ")");
    }
    store->setTimeout(timeout);
    // As PyTorch's own workers do under torchrun: each attempt's keys apart from the last one's.
    if (env.agent_store)
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count),
                                                    store);
    try {
      // World sizes must agree and each rank appear once; otherwise the process group would wait for
      // a peer that never comes.
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("ali", store);
      std::string mine = std::to_string(env.world_size);
      if (env.rank == 0) prefixed->set("world_size", std::vector<uint8_t>(mine.begin(), mine.end()));
      if (prefixed->add("rank_" + std::to_string(env.rank), 1) > 1)
        throw Error("two processes were launched as rank " + std::to_string(env.rank) +
                    " (check RANK/SLURM_PROCID/OMPI_COMM_WORLD_RANK)");
      auto theirs = prefixed->get("world_size");
      std::string t(theirs.begin(), theirs.end());
      if (t != mine)
        throw Error("rank " + std::to_string(env.rank) + " was launched with a world size of " + mine +
                    ", rank 0 with " + t + ": every process must be given the same WORLD_SIZE");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(env.rank) + ": the other processes did not join at " + where +
                  " within " + std::to_string(timeout.count() / 1000) + " s (" + describe(e) + ")");
    }
    try {
#ifdef ALI_HAVE_NCCL
      if (device.is_cuda()) {
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = timeout;
        pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, o);
        return;
      }
#endif
      if (device.is_cuda())
        throw Error("distributed training on CUDA needs NCCL, which this build does not have");
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, o);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(env.rank) + " could not join the process group at " + where +
                  " (" + describe(e) + ")");
    }
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }

  void average_gradients(const std::vector<torch::Tensor>& params) override {
    // Buckets: the defined gradients of one dtype and device, flattened into tensors of up to
    // ~25 MB, one all-reduce each (many small all-reduces cost far more than a few large ones).
    constexpr int64_t kBucketBytes = 25 << 20;
    std::vector<torch::Tensor> grads;
    for (const auto& p : params)
      if (p.grad().defined()) grads.push_back(p.grad());
    size_t i = 0;
    while (i < grads.size()) {
      std::vector<torch::Tensor> bucket{grads[i]};
      int64_t bytes = grads[i].numel() * grads[i].element_size();
      size_t j = i + 1;
      while (j < grads.size() && grads[j].scalar_type() == grads[i].scalar_type() &&
             grads[j].device() == grads[i].device() &&
             bytes + grads[j].numel() * grads[j].element_size() <= kBucketBytes) {
        bytes += grads[j].numel() * grads[j].element_size();
        bucket.push_back(grads[j++]);
      }
      std::vector<torch::Tensor> flat_views;
      for (auto& g : bucket) flat_views.push_back(g.reshape(-1));
      std::vector<torch::Tensor> flat{torch::cat(flat_views)};
      run("all-reduce of gradients", [&] { return pg_->allreduce(flat); });
      flat[0].div_(env_.world_size);
      int64_t off = 0;
      for (auto& g : bucket) {
        g.copy_(flat[0].narrow(0, off, g.numel()).view_as(g));
        off += g.numel();
      }
      i = j;
    }
  }

  void sum(torch::Tensor& values) override {
    std::vector<torch::Tensor> v{on_backend(values)};
    run("all-reduce", [&] { return pg_->allreduce(v); });
    if (!v[0].is_same(values)) values.copy_(v[0]);
  }

  void broadcast(const std::vector<torch::Tensor>& tensors) override {
    for (const auto& t : tensors) {
      if (!t.defined() || t.numel() == 0) continue;
      std::vector<torch::Tensor> v{on_backend(t.is_contiguous() ? t : t.contiguous())};
      run("broadcast", [&] { return pg_->broadcast(v); });
      if (!v[0].is_same(t)) {
        torch::NoGradGuard no_grad;
        t.copy_(v[0]);
      }
    }
  }

 private:
  // NCCL reduces only CUDA tensors; Gloo here takes CPU ones.
  torch::Tensor on_backend(const torch::Tensor& t) const {
    return device_.is_cuda() ? t.to(device_) : t.cpu();
  }

  template <class F>
  void run(const char* what, F&& start) {
    try {
      auto work = start();
      if (!work->wait(timeout_))
        throw Error("distributed training: rank " + std::to_string(env_.rank) + ": the " + what +
                    " did not complete within " + std::to_string(timeout_.count() / 1000) +
                    " s: another process has died or hangs");
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("distributed training: rank " + std::to_string(env_.rank) + ": the " + what +
                  " failed (" + describe(e) + "): another process has died or hangs");
    }
  }

  LaunchEnv env_;
  std::chrono::milliseconds timeout_;
  torch::Device device_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
};

}  // namespace

std::shared_ptr<GradientSync> make_distributed_sync(const LaunchEnv& env,
                                                    std::chrono::milliseconds timeout,
                                                    torch::Device device) {
  if (env.world_size <= 1) return std::make_shared<GradientSync>();
  if (device.is_cuda()) device = torch::Device(torch::kCUDA, env.local_rank);
  return std::make_shared<C10dGradientSync>(env, timeout, device);
}

#endif

}  // namespace ali
