#include "views.h"

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

void ViewBase::report(AppState& s, const std::string& error) {
  s.error(std::string(view_name(kind_)) + ": " + error);
}

void ViewSet::frame(AppState& s) {
  for (auto& v : views_)
    if (v) v->frame(s);
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
