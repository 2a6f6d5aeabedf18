// One background thread that runs inference for a UI on immutable model snapshots.
// Requests are keyed by kind ("samples", "strip", ...); posting a request replaces any pending one of
// the same kind, so only the newest request per kind is served and stale ones are dropped. Results
// (CPU tensors and pixel buffers, never GPU or GL objects) are collected by the UI thread when it likes.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ali/models.h"
#include "ali/stop_thread.h"

namespace ali {

// 8-bit pixels, row-major H x W x C (C = 1 or 3), ready to be uploaded as a texture.
struct PixelBuffer {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  bool empty() const { return pixels.empty(); }
};
// Float C x H x W in [0,1] (any device) -> PixelBuffer.
PixelBuffer to_pixels(const torch::Tensor& chw);

struct InferenceResult {
  std::string kind;
  uint64_t generation = 0;     // of the request that produced it
  uint64_t model_version = 0;  // of the snapshot it ran on
  std::vector<PixelBuffer> images;
  torch::Tensor codes;   // CPU float, e.g. latent codes (rows)
  torch::Tensor values;  // CPU, job-specific (e.g. a 2-D projection)
  std::vector<double> numbers;  // job-specific scalars
  std::string message;   // informative text (e.g. "wrote strip.png")
  std::string error;     // non-empty when the job threw
  double seconds = 0;    // the job's wall time on the worker (the snapshot's copy included)
};

class InferenceWorker {
 public:
  // The job runs on the worker thread with the worker's private copy of the snapshot; it fills
  // images/codes/values/message. Exceptions become InferenceResult::error.
  using Job = std::function<void(AliModel& model, InferenceResult& out)>;

  // thread_nice > 0: the worker thread runs at that nice value (Linux), so that on a machine whose
  // cores are all busy a window's frames come before re-rendering its views.
  explicit InferenceWorker(int thread_nice = 0);
  ~InferenceWorker();  // drops pending work, waits for the running job
  InferenceWorker(const InferenceWorker&) = delete;
  InferenceWorker& operator=(const InferenceWorker&) = delete;

  // Queues `job` on `model` (an immutable snapshot; `model_version` identifies it, the worker clones a
  // snapshot once per version and uses that clone only on its thread). Replaces a pending request of the
  // same kind. Returns the request's generation (increasing over all kinds).
  uint64_t post(const std::string& kind, std::shared_ptr<const AliModel> model, uint64_t model_version,
                Job job);
  // Drops pending requests of this kind (results already made are still delivered).
  void cancel(const std::string& kind);
  // Results finished since the last call, at most one per kind (the newest). A result is left out
  // when a newer request of its kind was posted after it started.
  std::vector<InferenceResult> take_results();
  // True while a job runs or is pending.
  bool busy() const;
  // Latest generation posted for a kind (0 if none).
  uint64_t latest_generation(const std::string& kind) const;

 private:
  struct Request {
    std::string kind;
    uint64_t generation = 0;
    std::shared_ptr<const AliModel> model;
    uint64_t model_version = 0;
    Job job;
  };
  void run(StopToken st);

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, Request> pending_;
  std::map<std::string, InferenceResult> done_;
  std::map<std::string, uint64_t> latest_;
  uint64_t next_generation_ = 1;
  bool running_ = false;
  std::string last_kind_;  // round-robin fairness between kinds
  // Touched only by the worker thread.
  uint64_t copy_version_ = 0;
  std::shared_ptr<AliModel> copy_;
  StopThread thread_;
};

}  // namespace ali
