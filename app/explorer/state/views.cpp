#include "views.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "app_state.h"

namespace ali::explorer {

const char* view_name(ViewKind kind) {
  switch (kind) {
    case ViewKind::Samples:
      return "samples";
    case ViewKind::Recons:
      return "reconstructions";
    case ViewKind::Dropped:
      return "dropped images";
    case ViewKind::Inpaint:
      return "inpainting";
    case ViewKind::Refine:
      return "refinement";
    case ViewKind::Inspect:
      return "inspect";
    case ViewKind::Interp:
      return "interpolation";
    case ViewKind::Strip:
      return "interpolation strip";
    case ViewKind::DimSweep:
      return "dimension sweep";
    case ViewKind::ShelfThumbs:
      return "shelf thumbnails";
    case ViewKind::Map:
      return "latent map";
    case ViewKind::Sweep:
      return "attribute sweep";
    case ViewKind::Export:
      return "export";
    case ViewKind::Count:
      break;
  }
  return "?";
}

uint64_t ViewBase::post(AppState& s, std::function<void(AliModel&)> job) {
  auto model = s.host.current();
  if (!model) return 0;
  return s.worker.post(view_name(kind_), std::move(model), s.host.version,
                       [job = std::move(job)](AliModel& m, InferenceResult&) { job(m); });
}

void ViewBase::cancel(AppState& s) { s.worker.cancel(view_name(kind_)); }

uint64_t ViewBase::model_version(const AppState& s) { return s.host.version; }

uint64_t ViewBase::adoptions(const AppState& s) { return s.host.adoptions; }

double ViewBase::now(const AppState& s) { return s.now(); }

void ViewBase::delivered(const InferenceResult& r) {
  ++stats_.delivered;
  stats_.seconds.push_back(r.seconds);
  last_render_s_ = r.seconds;
}

double ViewStats::median_seconds() const {
  if (seconds.empty()) return 0;
  std::vector<double> v = seconds;
  std::nth_element(v.begin(), v.begin() + ptrdiff_t(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void ViewBase::report(AppState& s, const std::string& error) {
  s.error(std::string(view_name(kind_)) + ": " + error);
}

void ViewSet::frame(AppState& s) {
  for (auto& v : views_)
    if (v) v->frame(s);
}

bool ViewSet::deferred() const {
  for (const auto& v : views_)
    if (v && v->deferred()) return true;
  return false;
}

const ViewStats& ViewSet::stats(ViewKind k) const {
  static const ViewStats none;
  return views_[size_t(k)] ? views_[size_t(k)]->stats() : none;
}

std::string ViewSet::stats() const {
  std::ostringstream out;
  for (const auto& v : views_) {
    if (!v || v->stats().posted == 0) continue;
    const ViewStats& st = v->stats();
    out << "view " << view_name(v->kind()) << ": " << st.delivered << " of " << st.posted
        << " renders landed, median " << std::fixed << std::setprecision(1) << st.median_seconds() * 1000
        << " ms\n";
  }
  return out.str();
}

void ViewSet::deliver(AppState& s, std::vector<InferenceResult> results) {
  for (auto& r : results) {
    bool routed = false;
    for (auto& v : views_)
      if (v && r.kind == view_name(v->kind())) {
        v->deliver(s, r);
        routed = true;
      }
    if (routed) continue;
    // One-shot jobs (exports): their message or error is all there is.
    if (!r.error.empty())
      s.error(r.kind + ": " + r.error);
    else if (!r.message.empty())
      s.info(r.message);
  }
}

}  // namespace ali::explorer
