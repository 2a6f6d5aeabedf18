// The one state every panel draws from and writes into, plus the actions that change it (open, train,
// drop, ...). Main thread only; slow work goes to the TaskRunner, inference to the InferenceWorker,
// training to a TrainingSession. Nothing here waits for any of them.
#pragma once
#include "ali/text.h"
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/inference_worker.h"
#include "ali/training_session.h"
#include "frame_stats.h"
#include "gl_image.h"
#include "options.h"
#include "settings.h"
#include "task_runner.h"

namespace ali::explorer {

struct Message {
  bool error = false;
  std::string text;
  double time = 0;  // seconds since start
};

// A latent code kept for later: from a dropped image (re-encoded whenever the model changes), a map
// point, a random draw or the inspector.
struct ShelfEntry {
  uint64_t id = 0;
  std::string name;
  std::vector<float> code;
  std::string source;  // image file it was encoded from, if any
  TexturePtr thumb;
};

struct DroppedImage {
  uint64_t id = 0;
  std::string path, name;
  torch::Tensor hwc;      // the decoded file, uint8 H x W x C
  torch::Tensor x;        // float C x S x S as the model takes it
  TexturePtr input, recon;
  std::vector<float> code;  // E(x, attrs) from the latest encoding (empty until encoded)
  bool shelved = false;  // its code went onto the shelf once (removing it there keeps it off)
};

// Attribute toggles shown together. Exclusive groups allow at most one on (CelebA's hair colours);
// a required group exactly one (the classes of a class-conditional model, trained on one-hot rows).
struct AttributeGroup {
  std::string title;
  std::vector<int> members;  // indices into config().attributes
  bool exclusive = false;
  bool required = false;
};
// The groups for these attribute names: one required group of classes when one_hot, else CelebA's
// hair colour and hair style groups and the rest under "Other".
std::vector<AttributeGroup> attribute_groups(const std::vector<std::string>& names, bool one_hot);
// One-hot class attributes: the training data's class names, or no known CelebA name among them.
bool is_class_attributes(const std::vector<std::string>& names, const std::vector<std::string>& class_names);
// The paper's attribute figure, rows whose names all exist in `names`; for class models every class.
std::string default_sweep_rows(const std::vector<std::string>& names, bool one_hot);

// An interpolation endpoint: a shelf entry or a seeded random code.
struct Endpoint {
  uint64_t shelf_id = 0;    // 0: not a shelf entry
  std::vector<float> code;  // a fixed code (e.g. a map point), when not a shelf entry
  std::string label;        // of the fixed code
  uint64_t seed = 1;        // otherwise: a seeded random code
};

struct LatentMap {
  torch::Tensor codes;   // N x nlat
  torch::Tensor points;  // N x 2 (PCA)
  std::vector<int64_t> labels;  // N, or empty when unlabelled
  std::vector<int> dim_order;
  float explained[2] = {0, 0};
  uint64_t model_version = 0;
  int picked[2] = {-1, -1};  // the last two clicked points (interpolation endpoints)
  int next_pick = 0;
  int hovered = -1;
  TexturePtr hover_tex;
  int hover_tex_index = -1;
  float bounds[4] = {0, 1, 0, 1};  // view: x0, x1, y0, y1
  uint64_t bounds_version = ~0ull;
  int64_t bounds_n = -1;
};

struct AppState {
  explicit AppState(Options o);
  ~AppState();

  Options options;
  Settings settings;
  InferenceWorker worker;
  TaskRunner tasks;
  ImageRenderer renderer;
  FrameStats frames;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double now() const;

  // ---- model ----
  std::string model_path;  // checkpoint the model came from ("" = new model)
  CheckpointHeader header;  // config, options and step of what is loaded
  bool has_model = false;
  std::shared_ptr<const AliModel> static_model;  // when not training
  std::shared_ptr<TrainingSession> session;      // when a training run exists
  std::string session_checkpoint;                // where it saves
  bool session_error_reported = false;
  int64_t steps_before_runs = -1;               // step when the first run of this program started
  int64_t trained_steps() const { return session && steps_before_runs >= 0 ? session->step() - steps_before_runs : 0; }
  std::unique_ptr<Trainer> pending_trainer;      // a new model, built but not yet training
  bool start_after_load = false;
  std::string save_path;                         // "" = a new file under <config>/runs
  torch::Device train_device{torch::kCPU};
  uint64_t model_version = 0;  // bumps whenever the model used for inference changes
  uint64_t seen_snapshot = 0;
  std::shared_ptr<const AliModel> current_model() const;
  const ModelConfig& config() const { return header.config; }
  int64_t step() const { return session ? session->step() : header.step; }
  bool training_active() const;  // running or paused

  // ---- data ----
  std::string dataset;  // training data spec
  std::shared_ptr<const ImageSet> test_set;  // for the fixed reconstruction batch and the map
  std::string test_set_key;
  std::shared_ptr<const ImageSet> train_set;  // kept for the next run
  std::string train_set_key;

  // ---- views ----
  TexturePtr samples_tex, recon_tex, inspect_tex, interp_tex, strip_tex;
  PixelBuffer inspect_pixels;  // the current output image (for capture)
  std::vector<DroppedImage> dropped;
  std::vector<ShelfEntry> shelf;
  uint64_t next_id = 1;
  bool shelf_dirty = false;
  double shelf_saved_at = 0;
  Endpoint ends[2];
  float interp_t = 0.5f;
  int strip_frames = 8;
  bool slerp = true;
  std::vector<float> inspect_code, inspect_origin;
  std::string inspect_source = "random";
  std::vector<int> dim_order;  // most variable first (from the map), else identity

  // ---- attributes (conditional models) ----
  std::vector<float> attrs;  // K values (0/1) fed as y to every G and E the views run
  std::vector<std::string> attr_names;  // the names attrs belongs to (config().attributes when adopted)
  std::vector<AttributeGroup> attr_groups;
  bool attrs_one_hot = false;
  bool focus_attributes = false;  // bring the Attributes panel to the front (Edit attributes)
  std::string sweep_rows;         // CLI syntax: ';' between rows, ',' within
  int sweep_cols = 8;
  uint64_t sweep_seed = 0;
  TexturePtr sweep_tex;
  torch::Tensor sweep_images;  // the rendered rows*cols images (float, CPU), for Export PNG
  int sweep_shown_cols = 0;
  std::vector<std::string> sweep_shown_rows;  // the attributes of each row of sweep_images
  std::vector<std::string> sweep_pending_rows;  // the rows of the request in flight
  int64_t sweep_step = -1;     // model step it was rendered at
  bool sweep_rendering = false;
  std::string sweep_out_pending;  // --sweep-out: written once the startup sweep is rendered
  bool startup_applied = false;   // --attrs/--sweep applied to the first model
  LatentMap map;
  bool map_follow = false;
  double map_posted_at = -1e9;
  std::deque<Message> messages;
  std::vector<std::string> pending_drops;
  bool want_screenshot = false;
  std::string screenshot_path;
  bool open_popup = false;    // Ctrl+O
  std::string open_path_input;

  // ---- training controls ----
  double lr = 1e-4;
  int batch = 100;
  int64_t max_steps = 6000;
  int64_t checkpoint_every = 500;
  std::string device_choice = "auto";
  std::string new_arch = "fmnist28";
  std::vector<StepStats> history;
  int64_t history_step = -1;
  double history_at = -1;

  // ---- actions (main thread) ----
  void info(const std::string& text);
  void error(const std::string& text);  // shown in the window and printed to stderr
  void open_checkpoint(const std::string& path);
  void new_model(const std::string& arch);
  void start_training();
  void pause_or_resume();
  void stop_training();
  void save();  // the run's checkpoint (or a copy of the opened one) to the save path
  void handle_drops(const std::vector<std::string>& paths);
  void add_image(const std::string& path, torch::Tensor hwc);
  void remove_dropped(uint64_t id);
  uint64_t add_to_shelf(const std::string& name, std::vector<float> code, const std::string& source);
  ShelfEntry* shelf_entry(uint64_t id);
  std::vector<float> endpoint_code(const Endpoint& e) const;
  void set_inspect(std::vector<float> code, const std::string& source);
  void edit_dropped(uint64_t id);  // its code E(x, attrs) into the inspector, for attribute editing
  void set_attribute(int index, bool on);  // keeps exclusive groups exclusive
  void clear_attributes();
  bool set_attributes(const std::string& names);  // exactly these on ("A,B"); false (error shown) if unknown
  std::string attributes_summary() const;  // "Blond_Hair, Smiling", "none", "" when not conditional
  void post_sweep();
  void export_sweep(const std::string& path = "");  // "" = capture_dir/attribute-sweep-<time>.png
  void request_map();
  void save_capture();
  void set_dataset(const std::string& spec);

  // ---- per-frame ----
  void update();  // poll the session, the worker and the tasks; post inference when inputs change
  void post_samples();
  void post_recons();
  void post_dropped();
  void post_inspect();
  void post_interp();
  void post_strip();
  void post_shelf_thumbs();
  void attributes_changed();  // re-render every view that takes attrs
  void export_strip(bool gif);
  void persist();

 private:
  void adopt_model(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& path);
  void ensure_test_set();
  void apply_result(InferenceResult& r);
  std::filesystem::path default_run_checkpoint() const;
  void bump_model();
  void reset_attributes();
  void apply_startup_options();
  torch::Tensor attrs_row() const;  // 1 x K, or undefined for unconditional models
};

std::string format_code(const std::vector<float>& code);
// Accepts numbers separated by commas, spaces or newlines, optionally in [ ]. Throws ali::Error.
std::vector<float> parse_code(const std::string& text, int nlat);

}  // namespace ali::explorer
