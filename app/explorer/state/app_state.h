// The explorer's state: per-feature parts that the panels draw from and write into through their
// methods, and the views (typed requests re-run when their inputs change, views.h). Main thread
// only; slow work goes to the TaskRunner, inference to the InferenceWorker, training to a
// TrainingSession; nothing here waits for any of them. No GL types: images are pixel buffers with
// versions, uploaded by the GUI's texture cache, so all of it runs (and is tested) without a
// display.
#pragma once
#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "ali/inference_worker.h"
#include "attribute_state.h"
#include "data_cache.h"
#include "drops.h"
#include "explore.h"
#include "file_browser.h"
#include "frame_stats.h"
#include "latent_map.h"
#include "live_views.h"
#include "model_host.h"
#include "options.h"
#include "run_watch.h"
#include "settings.h"
#include "shelf.h"
#include "task_runner.h"
#include "views.h"

namespace ali::explorer {

struct Message {
  bool error = false;
  std::string text;
  double time = 0;  // seconds since start
};

struct AppState {
  explicit AppState(Options o);
  ~AppState();
  AppState(const AppState&) = delete;
  AppState& operator=(const AppState&) = delete;

  Options options;
  Settings settings;
  InferenceWorker worker;
  TaskRunner tasks;
  ViewSet views;  // before the parts: they add their views to it
  FrameStats frames;
  std::deque<Message> messages;

  // The parts (each in its own file).
  ModelHost host;
  DataCache data;
  Shelf shelf;
  Drops drops;
  Explore explore;
  Attributes attributes;
  LatentMap map;
  LiveViews live;
  FileBrowser browser;  // the in-window file dialog (when the desktop has none)
  RunWatch watch;       // a run folder followed live (File > Watch run, a dropped run folder)

  // Requests from the window (main.cpp) and the menu.
  std::vector<std::string> pending_drops;
  bool want_screenshot = false;
  bool open_popup = false;  // Ctrl+O

  bool has_model() const { return host.loaded; }
  const ModelConfig& config() const { return host.config(); }
  int64_t step() const { return host.step(); }
  double now() const;
  uint64_t next_id() { return next_id_++; }

  // Open model / Add images: the desktop's dialog off the UI thread where there is one, else the
  // in-window browser, starting in the folder of the most recent such file.
  void browse(BrowsePurpose purpose);
  // What a dialog chose: models open, images are added (and remembered as recent images).
  void chosen(BrowsePurpose purpose, const std::vector<std::string>& paths);

  void info(const std::string& text);
  void error(const std::string& text);  // shown in the window and printed to stderr

  // Once a frame: tasks, drops, the training run, then every view whose inputs changed, then
  // results.
  void update();
  // The current model's parts follow a newly adopted model (ModelHost::adopt calls it).
  void model_adopted();
  // A one-shot job on the current model (an export); its returned text is shown when it is done.
  void post_once(std::function<std::string(AliModel&)> job);
  // Settings and the shelf to the config folder.
  void persist();
  // Nothing left to do: no task, no drop, no view rendering (scripted runs end when settled).
  bool idle() const { return !tasks.busy() && pending_drops.empty() && !worker.busy() && !views.deferred(); }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  uint64_t next_id_ = 1;
  bool startup_applied_ = false;  // --attrs/--sweep applied to the first model
  double shelf_saved_at_ = 0;
};

}  // namespace ali::explorer
