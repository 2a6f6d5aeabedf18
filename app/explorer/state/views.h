// Typed view requests. A view is one class: the key of its inputs, the request (a job on the
// inference worker that fills a Result of the view's own type) and the completion (the Result
// applied on the main thread). AppState::update() asks every view for its key once a frame and
// posts a request when the key (or the model snapshot) changed, as StyleGAN3's visualizer compares
// its args: nothing is re-posted by hand, so no view can be left stale. Results are routed back by
// kind (an enum) and request generation.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ali/inference_worker.h"

namespace ali::explorer {

struct AppState;

enum class ViewKind {
  Samples,
  Recons,
  Dropped,
  Inpaint,
  Refine,
  Inspect,
  Interp,
  Strip,
  DimSweep,
  ShelfThumbs,
  Map,
  Sweep,
  Export,  // one-shot jobs (files written), not a view
  Count
};
const char* view_name(ViewKind kind);

// A view re-renders for a training snapshot alone (its inputs unchanged) only once its render in
// flight has landed (else a render slower than the snapshots, such as two refined face fills, is
// superseded before it lands, every time, and the view never updates while training runs), and no
// sooner than this many times its last render's time after that render was posted (so that one slow
// view takes at most a quarter of the inference thread from the others). Changed inputs (a hole
// dragged, an attribute toggled) and another model re-render at once.
constexpr double kSnapshotSpacing = 4;
inline bool snapshot_render_due(bool in_flight, double since_post_s, double last_render_s) {
  return !in_flight && since_post_s >= kSnapshotSpacing * last_render_s;
}

// What a view asked of the worker and got back: --print-frame-stats prints it.
struct ViewStats {
  int posted = 0, delivered = 0;
  std::vector<double> seconds;  // each delivered render's time on the worker
  double median_seconds() const;
};

class ViewBase {
 public:
  explicit ViewBase(ViewKind kind) : kind_(kind) {}
  virtual ~ViewBase() = default;
  ViewBase(const ViewBase&) = delete;
  ViewBase& operator=(const ViewBase&) = delete;
  ViewKind kind() const { return kind_; }
  // Once a frame: posts a request when the inputs changed since the last one.
  virtual void frame(AppState& s) = 0;
  // A result of this kind from the worker (main thread).
  virtual void deliver(AppState& s, InferenceResult& r) = 0;
  // A request is in flight.
  virtual bool rendering() const = 0;
  // A training snapshot's re-render waits (snapshot_render_due).
  bool deferred() const { return deferred_; }
  const ViewStats& stats() const { return stats_; }

 protected:
  // Posts `job` on the current model; 0 when there is no model.
  uint64_t post(AppState& s, std::function<void(AliModel&)> job);
  void cancel(AppState& s);
  static uint64_t model_version(const AppState& s);
  static uint64_t adoptions(const AppState& s);
  static double now(const AppState& s);
  void report(AppState& s, const std::string& error);
  void delivered(const InferenceResult& r);

  ViewStats stats_;
  bool deferred_ = false;
  double posted_at_ = 0;     // AppState::now() of the newest request
  uint64_t posted_adoptions_ = 0;  // the model adoption it was made for
  double last_render_s_ = 0;  // the newest delivered render's time on the worker

 private:
  ViewKind kind_;
};

template <class K, class R>
class View : public ViewBase {
 public:
  using Key = K;  // equality-comparable inputs
  using Result = R;
  using Job = std::function<void(AliModel&, Result&)>;
  using ViewBase::ViewBase;

  void frame(AppState& s) final {
    std::optional<Key> k = key(s);
    if (!k) {  // nothing to show (no model, no inputs): drop what is pending
      if (posted_) cancel(s);
      posted_.reset();
      slots_.clear();
      return;
    }
    uint64_t mv = follows_model() ? model_version(s) : 0;
    deferred_ = false;
    if (posted_ && posted_->first == mv && posted_->second == *k) return;
    if (posted_ && posted_->second == *k && posted_adoptions_ == adoptions(s) &&
        !snapshot_render_due(rendering(), now(s) - posted_at_, last_render_s_)) {
      deferred_ = true;  // only the snapshot changed: later
      return;
    }
    auto slot = std::make_shared<Result>();
    Job job = request(s, *k);
    uint64_t gen = post(s, [slot, job](AliModel& m) { job(m, *slot); });
    if (gen == 0) return;
    posted_.emplace(mv, std::move(*k));
    posted_at_ = now(s);
    posted_adoptions_ = adoptions(s);
    ++stats_.posted;
    slots_[gen] = std::move(slot);
  }

  void deliver(AppState& s, InferenceResult& r) final {
    auto it = slots_.find(r.generation);
    if (it == slots_.end()) return;  // made for inputs that have changed since
    auto slot = it->second;
    slots_.erase(slots_.begin(), std::next(it));  // older requests were replaced on the worker
    delivered(r);
    if (!r.error.empty())
      failed(s, r.error);
    else
      complete(s, std::move(*slot));
  }

  bool rendering() const final { return !slots_.empty(); }

 protected:
  // False: re-rendered only when the key changes, not with every training snapshot (slow views).
  virtual bool follows_model() const { return true; }
  // The view's inputs; nullopt when it has nothing to show.
  virtual std::optional<Key> key(const AppState& s) const = 0;
  // The job for these inputs: runs on the worker thread, captures copies only.
  virtual Job request(AppState& s, const Key& k) = 0;
  // The result, applied on the main thread.
  virtual void complete(AppState& s, Result&& r) = 0;
  virtual void failed(AppState& s, const std::string& error) { report(s, error); }

 private:
  std::optional<std::pair<uint64_t, Key>> posted_;  // model version and key of the newest request
  std::map<uint64_t, std::shared_ptr<Result>> slots_;  // by generation
};

// The views of one AppState, one per kind.
class ViewSet {
 public:
  template <class V, class... A>
  V& add(A&&... args) {
    auto v = std::make_unique<V>(std::forward<A>(args)...);
    V& ref = *v;
    views_[size_t(ref.kind())] = std::move(v);
    return ref;
  }
  void frame(AppState& s);
  // Routes each result to its view by kind.
  void deliver(AppState& s, std::vector<InferenceResult> results);
  bool rendering(ViewKind k) const { return views_[size_t(k)] && views_[size_t(k)]->rendering(); }
  // Some view waits to re-render for a training snapshot.
  bool deferred() const;
  const ViewStats& stats(ViewKind k) const;
  // One line per view that posted anything: renders posted and delivered, median render time.
  std::string stats() const;

 private:
  std::unique_ptr<ViewBase> views_[size_t(ViewKind::Count)];
};

}  // namespace ali::explorer
