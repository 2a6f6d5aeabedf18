#include "app_state.h"

#include <iostream>

#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
// Priorities on a machine whose cores are all busy (nice values; frames are the UI thread's, at 0):
// re-rendering the views after each snapshot next, the training run last. bench/explorer_frames.sh,
// 2 cores, fmnist28 training: frame p95 54 ms with all three at 0, 34-36 ms like this, and training
// as fast (3.2 -> 3.3-3.4 it/s, with snapshots every 0.5 s instead of 0.25 s).
constexpr int kWorkerNice = 5;

Settings loaded_settings(const Options& o) {
  Settings s;
  s.dir = o.config_dir;
  s.load();
  return s;
}
}  // namespace

AppState::AppState(Options o)
    : options(std::move(o)),
      settings(loaded_settings(options)),
      worker(kWorkerNice),
      host(*this),
      data(*this),
      shelf(*this),
      drops(*this),
      explore(*this),
      attributes(*this),
      map(*this),
      live(*this),
      watch(*this) {}

AppState::~AppState() {
  host.session.reset();  // stops training (saving) before the worker and tasks go
  map.cancel_layout();
  tasks.wait_all();
}

double AppState::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

void AppState::browse(BrowsePurpose purpose) {
  const auto& recent = purpose == BrowsePurpose::AddImages ? settings.recent_images : settings.recent;
  std::filesystem::path start = recent.empty() ? std::filesystem::path() : std::filesystem::path(recent.front()).parent_path();
  if (auto cmd = desktop_dialog_command(purpose, start)) {
    tasks.run("dialog", [cmd = *cmd, purpose]() -> Apply {
      auto paths = run_desktop_dialog(cmd);
      return [paths, purpose](AppState& s) { s.chosen(purpose, paths); };
    });
    return;
  }
  browser.open(purpose, start);
}

void AppState::chosen(BrowsePurpose purpose, const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  if (purpose == BrowsePurpose::OpenModel)
    host.open(paths.front());
  else if (purpose == BrowsePurpose::WatchRun)
    watch.watch(paths.front());
  else
    drops.handle(paths);
}

void AppState::info(const std::string& text) {
  messages.push_back({false, text, now()});
  if (messages.size() > 200) messages.pop_front();
}

void AppState::error(const std::string& text) {
  messages.push_back({true, text, now()});
  if (messages.size() > 200) messages.pop_front();
  std::cerr << "ali-explorer: error: " << text << std::endl;
}

void AppState::model_adopted() {
  data.model_adopted();
  explore.model_adopted();
  attributes.model_adopted();
  map.model_adopted();
  if (!startup_applied_) {
    startup_applied_ = true;
    if (options.has_attrs) attributes.set_names(options.attrs);
    const int64_t size = config().image_size;
    if (!options.inpaint.empty() && !clip_hole(parse_rect(options.inpaint), size))  // as the CLI says of such a mask
      error("--inpaint " + options.inpaint + " lies outside the model's " + std::to_string(size) + " x " +
            std::to_string(size) + " image: no image gets a hole");
    if (!options.browse.empty()) browser.open(BrowsePurpose::AddImages, options.browse);
    if (!options.sweep.empty()) {
      attributes.sweep_rows = options.sweep;
      attributes.sweep_out_pending = options.sweep_out;
      attributes.render_sweep();
    }
  }
}

void AppState::post_once(std::function<std::string(AliModel&)> job) {
  auto model = host.current();
  if (!model) return;
  worker.post(view_name(ViewKind::Export), std::move(model), host.version,
              [job = std::move(job)](AliModel& m, InferenceResult& out) { out.message = job(m); });
}

void AppState::update() {
  tasks.poll(*this);
  if (!pending_drops.empty()) {
    auto paths = std::move(pending_drops);
    pending_drops.clear();
    drops.handle(paths);
  }
  host.poll();
  watch.poll();
  map.poll();
  views.frame(*this);
  views.deliver(*this, worker.take_results());
  if (shelf.dirty() && now() - shelf_saved_at_ > 1.0) persist();
}

void AppState::persist() {
  settings.lr = host.lr;
  settings.batch = host.batch;
  settings.max_steps = host.max_steps;
  settings.device = host.device_choice;
  settings.dataset = options.data.empty() ? data.dataset : settings.dataset;
  settings.strip_frames = explore.strip_frames;
  settings.slerp = explore.slerp;
  settings.save();
  std::vector<SavedShelfEntry> entries;
  for (const auto& e : shelf.entries()) entries.push_back({e.name, e.code, e.source});
  save_shelf(settings.dir, entries);
  shelf.saved();
  shelf_saved_at_ = now();
}

}  // namespace ali::explorer
