#include "ali/inference_worker.h"

#include <sys/resource.h>
#include <chrono>
#include <unistd.h>

#include "ali/error.h"
#include "ali/image_io.h"

namespace ali {

PixelBuffer to_pixels(const torch::Tensor& chw) {
  torch::Tensor hwc = to_hwc_u8(chw.detach().to(torch::kCPU, torch::kFloat));
  PixelBuffer b;
  b.height = int(hwc.size(0));
  b.width = int(hwc.size(1));
  b.channels = int(hwc.size(2));
  const auto* p = hwc.data_ptr<uint8_t>();
  b.pixels.assign(p, p + hwc.numel());
  return b;
}

InferenceWorker::InferenceWorker(int thread_nice) {
  thread_ = StopThread([this, thread_nice](StopToken st) {
    if (thread_nice > 0) ::setpriority(PRIO_PROCESS, ::gettid(), thread_nice);  // nice is per thread
    run(st);
  });
}

InferenceWorker::~InferenceWorker() {
  {
    std::lock_guard lock(mu_);
    pending_.clear();
  }
  thread_.stop_and_wake(mu_, cv_);
}

uint64_t InferenceWorker::post(const std::string& kind, std::shared_ptr<const AliModel> model,
                               uint64_t model_version, Job job) {
  std::lock_guard lock(mu_);
  Request r{kind, next_generation_++, std::move(model), model_version, std::move(job)};
  latest_[kind] = r.generation;
  pending_[kind] = std::move(r);  // a pending request of this kind is dropped here
  cv_.notify_all();
  return latest_[kind];
}

void InferenceWorker::cancel(const std::string& kind) {
  std::lock_guard lock(mu_);
  pending_.erase(kind);
}

std::vector<InferenceResult> InferenceWorker::take_results() {
  std::lock_guard lock(mu_);
  std::vector<InferenceResult> out;
  for (auto& [kind, r] : done_) out.push_back(std::move(r));
  done_.clear();
  return out;
}

bool InferenceWorker::busy() const {
  std::lock_guard lock(mu_);
  return running_ || !pending_.empty();
}

uint64_t InferenceWorker::latest_generation(const std::string& kind) const {
  std::lock_guard lock(mu_);
  auto it = latest_.find(kind);
  return it == latest_.end() ? 0 : it->second;
}

void InferenceWorker::run(StopToken st) {
  // Inference only: no autograd bookkeeping on this thread. (Not InferenceMode: clone_to builds modules
  // with parameters that require grad.)
  torch::NoGradGuard no_grad;
  while (!st.stop_requested()) {
    Request req;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return st.stop_requested() || !pending_.empty(); });
      if (st.stop_requested()) return;
      // Round-robin over kinds, so a kind posted every frame cannot starve the others.
      auto it = pending_.upper_bound(last_kind_);
      if (it == pending_.end()) it = pending_.begin();
      req = std::move(it->second);
      pending_.erase(it);
      last_kind_ = req.kind;
      running_ = true;
    }
    InferenceResult res;
    res.kind = req.kind;
    res.generation = req.generation;
    res.model_version = req.model_version;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      if (!req.model) throw Error("no model is loaded");
      if (!copy_ || copy_version_ != req.model_version) {
        // Refresh the private copy in place when the architecture is unchanged: building a new one
        // would draw from (and rewind) the global generator that a running trainer uses.
        if (!copy_ || !copy_->copy_state_from(*req.model)) copy_ = req.model->clone_to(torch::kCPU);
        copy_->train(false);
        copy_version_ = req.model_version;
      }
      req.model.reset();
      req.job(*copy_, res);
    } catch (const std::exception& e) {
      res.error = describe_exception(e);
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lock(mu_);
    running_ = false;
    // A newer request of this kind exists: this result is stale, the newer one will replace it.
    if (latest_[res.kind] == res.generation || !res.error.empty() || !res.message.empty())
      done_[res.kind] = std::move(res);
  }
}

}  // namespace ali
