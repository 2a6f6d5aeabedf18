#include "app_state.h"

#include <cmath>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "ali/device.h"
#include "ali/image_io.h"
#include "ali/latent.h"
#include "ali/pca.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
constexpr int kSampleCount = 64, kSampleCols = 8, kReconCount = 32;
constexpr uint64_t kSampleSeed = 2017;  // fixed z for the live sample grid
constexpr int kMapPoints = 2000;
constexpr size_t kMaxDropped = 64;

// Attributes for `n` rows: conditional models get one class per row of 8, as in the CLI's grids.
torch::Tensor grid_attributes(const ModelConfig& c, int64_t n, int cols) {
  if (!c.conditional()) return {};
  auto cls = torch::arange(n, torch::kLong).div(cols, "floor").remainder(int64_t(c.attributes.size()));
  return torch::one_hot(cls, int64_t(c.attributes.size())).to(torch::kFloat);
}
torch::Tensor zero_attributes(const ModelConfig& c, int64_t n) {
  if (!c.conditional()) return {};
  return torch::zeros({n, int64_t(c.attributes.size())});
}
// The attribute row the request was made with (AppState::attrs_row), repeated to the batch; zeros when
// the job's model takes other attributes (a request made just before another model was adopted).
torch::Tensor attribute_rows(const ModelConfig& c, const torch::Tensor& y1, int64_t n) {
  if (!c.conditional()) return {};
  if (!y1.defined() || y1.size(1) != int64_t(c.attributes.size())) return zero_attributes(c, n);
  return y1.repeat({n, 1});
}
torch::Tensor code_tensor(const std::vector<float>& v) {
  return torch::tensor(v, torch::kFloat).view({1, int64_t(v.size())});
}
std::vector<float> code_vector(const torch::Tensor& row) {
  auto r = row.to(torch::kCPU, torch::kFloat).contiguous().view(-1);
  return std::vector<float>(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
}
std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream o;
  o << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return o.str();
}
torch::Tensor conform_float(const torch::Tensor& hwc, const ModelConfig& c) {
  return conform_image(hwc, c.image_size, c.image_channels).to(torch::kFloat).div(255.0);
}
struct TrainerBox {
  std::unique_ptr<Trainer> trainer;
};
}  // namespace

std::string format_code(const std::vector<float>& code) {
  std::ostringstream o;
  o << std::setprecision(5);
  for (size_t i = 0; i < code.size(); ++i) o << (i ? ", " : "") << code[i];
  return o.str();
}

std::vector<float> parse_code(const std::string& text, int nlat) {
  std::string t = text;
  for (char& ch : t)
    if (ch == ',' || ch == '[' || ch == ']' || ch == ';' || ch == '\n' || ch == '\t') ch = ' ';
  std::istringstream in(t);
  std::vector<float> v;
  std::string tok;
  while (in >> tok) {
    try {
      size_t used = 0;
      float f = std::stof(tok, &used);
      if (used != tok.size() || !std::isfinite(f)) throw std::invalid_argument(tok);
      v.push_back(f);
    } catch (const std::exception&) {
      throw Error("the clipboard does not hold a latent code ('" + tok.substr(0, 20) +
                  "' is not a number)");
    }
  }
  if (int(v.size()) != nlat)
    throw Error("the pasted code has " + std::to_string(v.size()) + " numbers; this model's latent size is " +
                std::to_string(nlat));
  return v;
}

bool is_class_attributes(const std::vector<std::string>& names, const std::vector<std::string>& class_names) {
  if (names.empty()) return false;
  return names == class_names || !is_celeba_attribute_set(names);
}

std::vector<AttributeGroup> attribute_groups(const std::vector<std::string>& names, bool one_hot) {
  std::vector<AttributeGroup> groups;
  if (names.empty()) return groups;
  if (one_hot) {  // trained on one-hot rows: any other row is outside what G has seen
    AttributeGroup g{"Class", {}, true, true};
    for (size_t i = 0; i < names.size(); ++i) g.members.push_back(int(i));
    groups.push_back(std::move(g));
    return groups;
  }
  // CelebA labels at most one hair colour and one hair style per face (the core's exclusive groups):
  // they toggle like radio buttons, none on being a valid label.
  std::vector<bool> used(names.size(), false);
  for (const auto& members : exclusive_attribute_groups(names)) {
    bool colour = std::find(members.begin(), members.end(), "Black_Hair") != members.end();
    AttributeGroup g{colour ? "Hair colour" : "Hair style", {}, true, false};
    for (const auto& m : members) {
      int i = int(std::find(names.begin(), names.end(), m) - names.begin());
      g.members.push_back(i);
      used[size_t(i)] = true;
    }
    groups.push_back(std::move(g));
  }
  AttributeGroup other{groups.empty() ? "Attributes" : "Other", {}, false, false};
  for (size_t i = 0; i < names.size(); ++i)
    if (!used[i]) other.members.push_back(int(i));
  if (!other.members.empty()) groups.push_back(std::move(other));
  return groups;
}

std::string default_sweep_rows(const std::vector<std::string>& names, bool one_hot) {
  std::string out;
  auto add = [&](const std::string& row) { out += (out.empty() ? "" : ";") + row; };
  if (one_hot) {
    for (const auto& n : names) add(n);
    return out;
  }
  // The paper's CelebA figure (ALI, Dumoulin et al. 2017, fig. 8), rows this model can draw.
  static const char* kPaperRows =
      "Black_Hair;Brown_Hair;Blond_Hair;Black_Hair,Wavy_Hair;Blond_Hair,Bangs;Blond_Hair,Receding_Hairline;"
      "Blond_Hair,Bald;Black_Hair,Smiling;Black_Hair,Smiling,Mouth_Slightly_Open;"
      "Black_Hair,Smiling,Mouth_Slightly_Open,Eyeglasses;"
      "Black_Hair,Smiling,Mouth_Slightly_Open,Eyeglasses,Wearing_Hat";
  for (const auto& row : split_list(kPaperRows, ';')) {
    auto parts = split_list(row, ',');
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const auto& p) { return std::find(names.begin(), names.end(), p) != names.end(); }))
      add(row);
  }
  if (out.empty())  // not CelebA's names: one attribute per row
    for (const auto& n : names) add(n);
  return out;
}

// ---------------------------------------------------------------------------------------------------

AppState::AppState(Options o) : options(std::move(o)) {
  settings.dir = options.config_dir;
  settings.load();
  lr = settings.lr;
  batch = settings.batch;
  max_steps = settings.max_steps;
  device_choice = options.device != "auto" ? options.device : settings.device;
  dataset = !options.data.empty() ? options.data : settings.dataset;
  strip_frames = std::clamp(settings.strip_frames, 2, 32);
  slerp = settings.slerp;
  for (auto& e : load_shelf(settings.dir)) shelf.push_back({next_id++, e.name, e.code, e.source, nullptr});
  if (shelf.size() >= 2) {
    ends[0].shelf_id = shelf[0].id;
    ends[1].shelf_id = shelf[1].id;
  } else {
    ends[1].seed = 2;
  }
}

AppState::~AppState() {
  if (session) session->stop();  // saves; the destructor below joins
}

double AppState::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

std::shared_ptr<const AliModel> AppState::current_model() const {
  if (session) return session->snapshot();
  return static_model;
}

bool AppState::training_active() const {
  if (!session) return false;
  auto s = session->state();
  return s == TrainState::Running || s == TrainState::Paused || s == TrainState::Stopping;
}

fs::path AppState::default_run_checkpoint() const {
  return settings.dir / "runs" / (config().arch + "-" + timestamp() + ".ali");
}

// ---- models ----------------------------------------------------------------------------------------

namespace {
// A session is torn down on a background thread: stopping waits for the step in flight and saves.
void retire(TaskRunner& tasks, std::shared_ptr<TrainingSession>& session) {
  if (!session) return;
  std::shared_ptr<TrainingSession> s = std::move(session);
  s->stop();
  tasks.run("stop", [s]() mutable -> Apply {
    s->wait();
    std::string saved = s->last_saved();
    s.reset();
    return [saved](AppState& st) {
      if (!saved.empty()) st.info("training stopped; checkpoint " + saved);
    };
  });
}
}  // namespace

void AppState::open_checkpoint(const std::string& path) {
  if (path.empty()) return;
  tasks.run("open", [path]() -> Apply {
    CheckpointHeader h;
    auto m = load_model(path, torch::kCPU, &h);
    return [m, h, path](AppState& s) {
      s.adopt_model(m, h, path);
      s.settings.add_recent(path);
      s.info("opened " + path);
    };
  });
}

void AppState::adopt_model(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& path) {
  std::shared_ptr<TrainingSession> old = std::move(session);
  retire(tasks, old);
  pending_trainer.reset();
  bool shape_changed = !has_model || h.config.image_size != header.config.image_size ||
                       h.config.image_channels != header.config.image_channels;
  header = std::move(h);
  model_path = path;
  static_model = std::move(m);
  has_model = true;
  history.clear();
  history_step = -1;
  steps_before_runs = -1;
  if (!options.data.empty())
    dataset = options.data;
  else if (dataset.empty())
    dataset = config().dataset.empty() ? "fashion-mnist" : config().dataset;
  if (shape_changed)
    for (auto& d : dropped) {
      d.x = conform_float(d.hwc, config());
      d.input = make_texture(to_pixels(d.x));
    }
  if (int(inspect_code.size()) != config().nlat) {
    inspect_code = code_vector(seeded_normal(1, config().nlat, 1)[0]);
    inspect_origin = inspect_code;
    inspect_source = "random #1";
  }
  dim_order.clear();
  map = LatentMap{};
  save_path.clear();
  reset_attributes();
  // A sweep of the previous model would pass for this one's.
  sweep_tex.reset();
  sweep_images = torch::Tensor();
  sweep_shown_rows.clear();
  ensure_test_set();
  bump_model();
  if (!startup_applied) {
    startup_applied = true;
    apply_startup_options();
  }
}

void AppState::reset_attributes() {
  const auto& names = config().attributes;
  if (names == attr_names && attrs.size() == names.size()) return;  // same attributes: keep the choice
  attr_names = names;
  attrs_one_hot = is_class_attributes(names, header.class_names);
  attr_groups = attribute_groups(names, attrs_one_hot);
  attrs.assign(names.size(), 0.0f);
  if (attrs_one_hot && !attrs.empty()) attrs[0] = 1.0f;  // a class model draws one class
  sweep_rows = default_sweep_rows(names, attrs_one_hot);
}

void AppState::apply_startup_options() {
  if (options.has_attrs) set_attributes(options.attrs);
  if (!options.sweep.empty()) {
    sweep_rows = options.sweep;
    sweep_out_pending = options.sweep_out;
    post_sweep();
  }
}

void AppState::new_model(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  TrainOptions o;
  o.batch = batch;
  o.lr = lr;
  torch::Device device = torch::kCPU;
  try {
    c = c.resolved();
    device = resolve_device(device_choice);
  } catch (const std::exception& e) {
    error(describe_exception(e));
    return;
  }
  std::string spec = dataset.empty() ? "fashion-mnist" : dataset;
  auto cached = train_set_key == spec + "/" + std::to_string(c.image_size) + "/" +
                                     std::to_string(c.image_channels)
                    ? train_set
                    : nullptr;
  tasks.run("new", [c, o, device, spec, cached]() -> Apply {
    auto box = std::make_shared<TrainerBox>();
    box->trainer = std::make_unique<Trainer>(c, o, device);
    auto data = cached ? cached
                       : std::make_shared<const ImageSet>(
                             load_dataset(spec, "train", c.image_size, c.image_channels));
    box->trainer->set_data(data);
    auto snap = box->trainer->model().clone_to(torch::kCPU);
    snap->train(false);
    CheckpointHeader h;
    h.config = box->trainer->model().config;
    h.options = o;
    h.class_names = data->class_names;
    return [box, snap, h, data, spec](AppState& s) {
      s.adopt_model(snap, h, "");
      s.pending_trainer = std::move(box->trainer);
      s.train_set = data;
      s.train_set_key = spec + "/" + std::to_string(h.config.image_size) + "/" +
                        std::to_string(h.config.image_channels);
      s.train_device = s.pending_trainer->device();
      s.info("new " + h.config.arch + " model on " + data->name + " (" +
             std::to_string(data->size()) + " images), ready to train");
      if (s.start_after_load) {
        s.start_after_load = false;
        s.start_training();
      }
    };
  });
}

void AppState::start_training() {
  if (tasks.busy("start") || tasks.busy("new") || tasks.busy("open") || tasks.busy("save")) {
    info("busy: training starts when loading has finished");
    start_after_load = true;
    return;
  }
  if (session) {
    switch (session->state()) {
      case TrainState::Running: return;
      case TrainState::Paused: session->resume(); return;
      case TrainState::Stopping: return;
      default: break;  // Idle/Completed/Error: continue from the run's checkpoint below
    }
  }
  if (!has_model) {
    start_after_load = true;
    new_model(new_arch);
    return;
  }
  torch::Device device = torch::kCPU;
  try {
    device = resolve_device(device_choice);
  } catch (const std::exception& e) {
    error(describe_exception(e));
    return;
  }
  SessionOptions so;
  so.max_steps = max_steps;
  so.checkpoint_every = checkpoint_every;
  so.checkpoint_path = save_path.empty() ? default_run_checkpoint() : fs::path(save_path);
  double rate = lr;
  int want_batch = batch;
  auto box = std::make_shared<TrainerBox>();
  std::string resume_from;
  if (pending_trainer && pending_trainer->device() == device && pending_trainer->options().batch == batch) {
    box->trainer = std::move(pending_trainer);
  } else if (session && fs::exists(session_checkpoint)) {
    resume_from = session_checkpoint;
  } else if (!model_path.empty()) {
    resume_from = model_path;
  } else {
    // A new model not yet trained, for another device or batch size: build it again.
    pending_trainer.reset();
    start_after_load = true;
    new_model(config().arch);
    return;
  }
  std::shared_ptr<TrainingSession> old = std::move(session);
  retire(tasks, old);
  std::string spec = dataset.empty() ? "fashion-mnist" : dataset;
  const ModelConfig c = config();
  std::string key = spec + "/" + std::to_string(c.image_size) + "/" + std::to_string(c.image_channels);
  auto cached = train_set_key == key ? train_set : nullptr;
  session_checkpoint = so.checkpoint_path.string();
  tasks.run("start", [box, resume_from, device, so, rate, want_batch, spec, c, cached, key]() -> Apply {
    std::string note;
    if (!box->trainer) {
      box->trainer = Trainer::resume(resume_from, device);
      if (box->trainer->options().batch != want_batch)
        note = "batch size " + std::to_string(box->trainer->options().batch) +
               " comes from the checkpoint (a new batch size applies to new models)";
    }
    Trainer& t = *box->trainer;
    std::shared_ptr<const ImageSet> data = cached;
    if (!t.has_data()) {
      if (!data) {
        auto set = load_dataset(spec, "train", c.image_size, c.image_channels);
        if (c.conditional()) set = with_condition_attributes(std::move(set));
        data = std::make_shared<const ImageSet>(std::move(set));
      }
      t.set_data(data);
    }
    if (std::abs(t.options().lr - rate) > 1e-12) t.set_learning_rate(rate);
    auto session = std::make_shared<TrainingSession>(std::move(box->trainer), so);
    int64_t first_step = session->step();
    session->start();
    return [session, data, key, note, device, first_step](AppState& s) {
      s.session = session;
      if (s.steps_before_runs < 0) s.steps_before_runs = first_step;
      s.static_model.reset();
      s.pending_trainer.reset();
      s.train_device = device;
      if (data) {
        s.train_set = data;
        s.train_set_key = key;
      }
      s.seen_snapshot = 0;
      s.session_error_reported = false;
      s.info("training on " + device_description(device) + ", checkpoints to " + s.session_checkpoint);
      if (!note.empty()) s.info(note);
    };
  });
}

void AppState::pause_or_resume() {
  if (!session || session->state() == TrainState::Completed || session->state() == TrainState::Error ||
      session->state() == TrainState::Idle) {
    start_training();
    return;
  }
  if (session->state() == TrainState::Paused)
    session->resume();
  else if (session->state() == TrainState::Running)
    session->pause();
}

void AppState::stop_training() {
  if (session && training_active()) {
    session->resume();  // a paused thread must wake up to stop
    session->stop();
    info("stopping: the checkpoint is written at the end of the current step");
  }
}

void AppState::save() {
  if (!has_model) {
    error("nothing to save: no model is loaded");
    return;
  }
  if (session && (session->state() == TrainState::Running || session->state() == TrainState::Paused)) {
    session->request_save();
    if (session->state() == TrainState::Paused) {
      // The paused thread only wakes on resume/stop; wake it and pause again (it saves on waking).
      session->resume();
      session->pause();
    }
    info("saving " + session_checkpoint);
    settings.add_recent(session_checkpoint);
    return;
  }
  if (session) {  // Completed or Error: the run's last checkpoint is on disk
    info("the run's checkpoint is " + session_checkpoint);
    return;
  }
  fs::path target = save_path.empty() ? default_run_checkpoint() : fs::path(save_path);
  if (pending_trainer) {
    auto box = std::make_shared<TrainerBox>();
    box->trainer = std::move(pending_trainer);
    tasks.run("save", [box, target]() -> Apply {
      fs::create_directories(target.parent_path());
      std::exception_ptr failed;
      try {
        box->trainer->save(target);
      } catch (...) {
        failed = std::current_exception();
      }
      return [box, target, failed](AppState& s) {
        s.pending_trainer = std::move(box->trainer);  // back to the main thread in any case
        if (failed) {
          try {
            std::rethrow_exception(failed);
          } catch (const std::exception& e) {
            s.error(describe_exception(e));
          }
          return;
        }
        s.info("saved " + target.string());
        s.settings.add_recent(target.string());
      };
    });
    return;
  }
  std::string from = model_path;
  tasks.run("save", [from, target]() -> Apply {
    if (fs::exists(target) && fs::equivalent(from, target))
      return [target](AppState& s) { s.info(target.string() + " is already saved"); };
    fs::create_directories(target.parent_path());
    fs::copy_file(from, target, fs::copy_options::overwrite_existing);
    return [target](AppState& s) {
      s.info("saved " + target.string());
      s.settings.add_recent(target.string());
    };
  });
}

// ---- data ------------------------------------------------------------------------------------------

void AppState::ensure_test_set() {
  if (!has_model) return;
  const ModelConfig& c = config();
  std::string spec = dataset.empty() ? "fashion-mnist" : dataset;
  std::string key = spec + "/" + std::to_string(c.image_size) + "/" + std::to_string(c.image_channels) +
                    (c.conditional() ? "/cond" : "");
  if (key == test_set_key) return;
  test_set_key = key;
  bool cond = c.conditional();
  int size = c.image_size, channels = c.image_channels;
  tasks.run("test-set", [spec, size, channels, cond, key]() -> Apply {
    auto set = load_dataset(spec, "test", size, channels);
    if (cond) set = with_condition_attributes(std::move(set));
    auto data = std::make_shared<const ImageSet>(std::move(set));
    return [data, key](AppState& s) {
      if (s.test_set_key != key) return;  // the model changed shape meanwhile
      s.test_set = data;
      s.post_recons();
      s.request_map();
    };
  });
}

void AppState::set_dataset(const std::string& spec) {
  if (!has_model) {
    dataset = spec;
    return;
  }
  // Adopted only once its test split loads; a folder that is not a dataset leaves things as they were.
  const ModelConfig& c = config();
  bool cond = c.conditional();
  int size = c.image_size, channels = c.image_channels;
  std::string key = spec + "/" + std::to_string(size) + "/" + std::to_string(channels) + (cond ? "/cond" : "");
  tasks.run("test-set", [spec, size, channels, cond, key]() -> Apply {
    std::shared_ptr<const ImageSet> data;
    try {
      auto set = load_dataset(spec, "test", size, channels);
      if (cond) set = with_condition_attributes(std::move(set));
      data = std::make_shared<const ImageSet>(std::move(set));
    } catch (const std::exception& e) {
      throw Error("cannot use " + spec + " as a dataset: " + describe_exception(e));
    }
    return [data, key, spec](AppState& s) {
      s.dataset = spec;
      s.test_set_key = key;
      s.test_set = data;
      s.post_recons();
      s.request_map();
      s.info("training data: " + spec + " (" + std::to_string(data->size()) +
             " test images; used by the next training run and the latent map)");
    };
  });
}

// ---- drops -----------------------------------------------------------------------------------------

void AppState::handle_drops(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      error(p + ": no such file or folder");
      continue;
    }
    if (fs::is_directory(p, ec)) {
      // A dataset folder: IDX files or images (checked by loading its test split in the background).
      set_dataset(p);
      continue;
    }
    if (looks_like_checkpoint(p)) {
      open_checkpoint(p);
      continue;
    }
    if (dropped.size() >= kMaxDropped) {
      error("at most " + std::to_string(kMaxDropped) + " dropped images; remove some first");
      break;
    }
    tasks.run("image", [p]() -> Apply {
      torch::Tensor hwc;
      try {
        hwc = decode_image_file(p);
      } catch (const std::exception& e) {
        throw Error("dropped file is not a checkpoint, an image or a dataset folder: " +
                    describe_exception(e));
      }
      return [p, hwc](AppState& s) { s.add_image(p, hwc); };
    });
  }
}

void AppState::add_image(const std::string& path, torch::Tensor hwc) {
  DroppedImage d;
  d.id = next_id++;
  d.path = path;
  d.name = fs::path(path).stem().string();
  d.hwc = hwc;
  if (has_model) {
    d.x = conform_float(hwc, config());
    d.input = make_texture(to_pixels(d.x));
  }
  dropped.push_back(std::move(d));
  post_dropped();
}

void AppState::remove_dropped(uint64_t id) {
  dropped.erase(std::remove_if(dropped.begin(), dropped.end(), [&](auto& d) { return d.id == id; }),
                dropped.end());
  post_dropped();
}

uint64_t AppState::add_to_shelf(const std::string& name, std::vector<float> code,
                                const std::string& source) {
  ShelfEntry e;
  e.id = next_id++;
  e.name = name;
  e.code = std::move(code);
  e.source = source;
  shelf.push_back(std::move(e));
  shelf_dirty = true;
  post_shelf_thumbs();
  return shelf.back().id;
}

ShelfEntry* AppState::shelf_entry(uint64_t id) {
  for (auto& e : shelf)
    if (e.id == id) return &e;
  return nullptr;
}

std::vector<float> AppState::endpoint_code(const Endpoint& e) const {
  int nlat = has_model ? config().nlat : 0;
  for (const auto& s : shelf)
    if (e.shelf_id && s.id == e.shelf_id && int(s.code.size()) == nlat) return s.code;
  if (!e.shelf_id && int(e.code.size()) == nlat) return e.code;
  return code_vector(seeded_normal(1, nlat, e.seed)[0]);
}

void AppState::set_inspect(std::vector<float> code, const std::string& source) {
  inspect_code = code;
  inspect_origin = std::move(code);
  inspect_source = source;
  post_inspect();
}

void AppState::edit_dropped(uint64_t id) {
  for (const auto& d : dropped) {
    if (d.id != id) continue;
    if (int(d.code.size()) != (has_model ? config().nlat : -1)) {
      info(d.name + " is not encoded yet");
      return;
    }
    // The code stays fixed from here on: toggling attributes then draws G(E(x, y), y').
    set_inspect(d.code, fs::path(d.path).filename().string());
    focus_attributes = true;
    return;
  }
}

// ---- attributes ------------------------------------------------------------------------------------

torch::Tensor AppState::attrs_row() const {
  if (!has_model || !config().conditional() || attrs.size() != config().attributes.size()) return {};
  return code_tensor(attrs);
}

void AppState::attributes_changed() {
  post_inspect();
  post_interp();
  post_strip();
  post_dropped();
  post_shelf_thumbs();
}

void AppState::set_attribute(int index, bool on) {
  if (index < 0 || index >= int(attrs.size())) return;
  if (!on && attrs_one_hot) return;  // a class model always draws one class
  // The core keeps the row consistent (exclusive groups, Mustache/Goatee imply Male, ...).
  auto row = code_tensor(attrs);
  request_attribute(attr_names, row, attr_names[size_t(index)], on);
  attrs = code_vector(row[0]);
  attributes_changed();
}

void AppState::clear_attributes() {
  if (attrs_one_hot) return;  // exactly one class stays on
  std::fill(attrs.begin(), attrs.end(), 0.0f);
  attributes_changed();
}

bool AppState::set_attributes(const std::string& names) {
  if (!has_model) return false;
  try {
    // attribute_vector checks the names (the error lists the valid ones).
    auto y = attribute_vector(config(), split_list(names));
    if (!y.defined()) return true;  // not conditional and no names: nothing to do
    attrs = code_vector(y[0]);
  } catch (const std::exception& e) {
    error("cannot set attributes: " + describe_exception(e));
    return false;
  }
  attributes_changed();
  return true;
}

std::string AppState::attributes_summary() const {
  if (!has_model || !config().conditional()) return "";
  std::string out;
  for (size_t i = 0; i < attrs.size() && i < config().attributes.size(); ++i)
    if (attrs[i] > 0.5f) out += (out.empty() ? "" : ", ") + config().attributes[i];
  return out.empty() ? "none" : out;
}

void AppState::post_sweep() {
  if (!has_model) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : split_list(sweep_rows, ';')) rows.push_back(split_list(row, ','));
  int cols = std::clamp(sweep_cols, 1, 64);
  uint64_t seed = sweep_seed;
  sweep_rendering = true;
  sweep_pending_rows.clear();  // labels for the result (only the newest request's arrives)
  for (const auto& row : rows) {
    std::string label;
    for (const auto& a : row) label += (label.empty() ? "" : ", ") + a;
    sweep_pending_rows.push_back(label.empty() ? "(none)" : label);
  }
  worker.post("sweep", current_model(), model_version, [rows, cols, seed](AliModel& m, InferenceResult& out) {
    // attribute_sweep throws ali::Error naming the valid attributes; the worker makes it r.error.
    auto x = attribute_sweep(m, rows, cols, seed);
    out.images.push_back(to_pixels(make_grid(x, cols, 1, 0.25f)));
    out.codes = x;
    out.numbers = {double(cols)};
  });
}

void AppState::export_sweep(const std::string& path) {
  if (!sweep_images.defined()) {
    error("render the attribute sweep first");
    return;
  }
  fs::path p = path.empty() ? fs::path(settings.capture_dir) / ("attribute-sweep-" + timestamp() + ".png")
                            : fs::path(path);
  auto x = sweep_images;
  int cols = sweep_shown_cols;
  tasks.run("sweep-export", [x, cols, p]() -> Apply {
    // As export_strip and `ali sweep`: make_grid's white 2-pixel gaps, small images scaled up.
    int scale = x.size(2) < 48 ? 4 : 2;
    auto abs = fs::absolute(p);
    if (abs.has_parent_path()) fs::create_directories(abs.parent_path());
    save_png(p, upscale(make_grid(x, cols), scale));
    return [abs](AppState& s) { s.info("wrote " + abs.string()); };
  });
}

// ---- inference requests ----------------------------------------------------------------------------

void AppState::bump_model() {
  ++model_version;
  post_samples();
  post_recons();
  post_dropped();
  post_inspect();
  post_interp();
  post_strip();
  post_shelf_thumbs();
}

void AppState::post_samples() {
  if (!has_model) return;
  worker.post("samples", current_model(), model_version, [](AliModel& m, InferenceResult& out) {
    auto z = seeded_normal(kSampleCount, m.config.nlat, kSampleSeed);
    auto x = decode(m, z, grid_attributes(m.config, kSampleCount, kSampleCols));
    out.images.push_back(to_pixels(make_grid(x, kSampleCols, 1, 0.25f)));
  });
}

void AppState::post_recons() {
  if (!has_model || !test_set || test_set->size() == 0) return;
  auto n = std::min<int64_t>(kReconCount, test_set->size());
  auto idx = torch::arange(n, torch::kLong);
  auto x = test_set->float_images(idx);
  torch::Tensor y = test_set->attributes.defined() && config().conditional()
                        ? test_set->attributes.index_select(0, idx)
                        : torch::Tensor();
  worker.post("recons", current_model(), model_version, [x, y](AliModel& m, InferenceResult& out) {
    auto yy = y.defined() ? y : zero_attributes(m.config, x.size(0));
    auto r = reconstruct(m, x, yy);
    // Rows of 8: inputs, then their reconstructions beneath.
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < x.size(0); i += kSampleCols) {
      int64_t len = std::min<int64_t>(kSampleCols, x.size(0) - i);
      rows.push_back(x.narrow(0, i, len));
      rows.push_back(r.narrow(0, i, len));
    }
    out.images.push_back(to_pixels(make_grid(torch::cat(rows), kSampleCols, 1, 0.25f)));
  });
}

void AppState::post_dropped() {
  if (!has_model || dropped.empty()) {
    worker.cancel("dropped");
    return;
  }
  std::vector<torch::Tensor> xs;
  std::vector<int64_t> ids;
  for (auto& d : dropped) {
    if (!d.x.defined()) {
      d.x = conform_float(d.hwc, config());
      d.input = make_texture(to_pixels(d.x));
    }
    xs.push_back(d.x);
    ids.push_back(int64_t(d.id));
  }
  auto x = torch::stack(xs);
  auto id_t = torch::tensor(ids, torch::kLong);
  auto y1 = attrs_row();
  worker.post("dropped", current_model(), model_version, [x, id_t, y1](AliModel& m, InferenceResult& out) {
    // E(x, y) and G(mu, y) with the Attributes panel's y: what "edit attributes" starts from.
    auto y = attribute_rows(m.config, y1, x.size(0));
    auto mu = encode_mu(m, x, y);
    auto r = decode(m, mu, y);
    for (int64_t i = 0; i < r.size(0); ++i) out.images.push_back(to_pixels(r[i]));
    out.codes = mu;
    out.values = id_t;
  });
}

void AppState::post_inspect() {
  if (!has_model || int(inspect_code.size()) != config().nlat) return;
  auto z = code_tensor(inspect_code);
  auto y1 = attrs_row();
  worker.post("inspect", current_model(), model_version, [z, y1](AliModel& m, InferenceResult& out) {
    out.images.push_back(to_pixels(decode(m, z, attribute_rows(m.config, y1, 1))[0]));
  });
}

void AppState::post_interp() {
  if (!has_model) return;
  auto a = code_tensor(endpoint_code(ends[0])), b = code_tensor(endpoint_code(ends[1]));
  double t = interp_t;
  bool sph = slerp;
  auto y1 = attrs_row();
  worker.post("interp", current_model(), model_version, [a, b, t, sph, y1](AliModel& m, InferenceResult& out) {
    auto z = sph ? interpolate_slerp(a, b, t) : interpolate_linear(a, b, t);
    out.images.push_back(to_pixels(decode(m, z, attribute_rows(m.config, y1, 1))[0]));
  });
}

void AppState::post_strip() {
  if (!has_model) return;
  auto a = endpoint_code(ends[0]), b = endpoint_code(ends[1]);
  int n = strip_frames;
  bool sph = slerp;
  auto y1 = attrs_row();
  worker.post("strip", current_model(), model_version, [a, b, n, sph, y1](AliModel& m, InferenceResult& out) {
    auto path = interpolation_path(code_tensor(a)[0], code_tensor(b)[0], n, sph);
    auto x = decode(m, path, attribute_rows(m.config, y1, n));
    out.images.push_back(to_pixels(make_grid(x, n, 1, 0.25f)));
  });
}

void AppState::export_strip(bool gif) {
  if (!has_model) return;
  auto a = endpoint_code(ends[0]), b = endpoint_code(ends[1]);
  int n = strip_frames;
  bool sph = slerp;
  fs::path out_path = fs::path(settings.capture_dir) /
                      ("interpolation-" + timestamp() + (gif ? ".gif" : ".png"));
  auto y1 = attrs_row();
  worker.post("export", current_model(), model_version,
              [a, b, n, sph, gif, out_path, y1](AliModel& m, InferenceResult& out) {
                auto path = interpolation_path(code_tensor(a)[0], code_tensor(b)[0], gif ? 24 : n, sph);
                auto x = decode(m, path, attribute_rows(m.config, y1, path.size(0)));
                int scale = m.config.image_size < 48 ? 4 : 2;
                fs::create_directories(fs::absolute(out_path).parent_path());
                if (gif) {
                  std::vector<torch::Tensor> frames;
                  for (int64_t i = 0; i < x.size(0); ++i) frames.push_back(upscale(x[i], scale));
                  for (int64_t i = x.size(0) - 2; i > 0; --i) frames.push_back(upscale(x[i], scale));
                  save_gif(out_path, frames, 6);
                } else {
                  save_png(out_path, upscale(make_grid(x, int(x.size(0))), scale));
                }
                out.message = "wrote " + fs::absolute(out_path).string();
              });
}

void AppState::post_shelf_thumbs() {
  if (!has_model) return;
  std::vector<torch::Tensor> codes;
  std::vector<int64_t> ids;
  for (const auto& e : shelf)
    if (int(e.code.size()) == config().nlat) {
      codes.push_back(code_tensor(e.code)[0]);
      ids.push_back(int64_t(e.id));
    }
  if (codes.empty()) return;
  auto z = torch::stack(codes);
  auto id_t = torch::tensor(ids, torch::kLong);
  auto y1 = attrs_row();  // thumbnails look like what interpolating between the codes shows
  worker.post("shelf", current_model(), model_version, [z, id_t, y1](AliModel& m, InferenceResult& out) {
    auto x = decode(m, z, attribute_rows(m.config, y1, z.size(0)));
    for (int64_t i = 0; i < x.size(0); ++i) out.images.push_back(to_pixels(x[i]));
    out.values = id_t;
  });
}

void AppState::request_map() {
  if (!has_model || !test_set || test_set->size() < 2) return;
  map_posted_at = now();
  int64_t n = std::min<int64_t>(kMapPoints, test_set->size());
  auto idx = torch::arange(n, torch::kLong);
  auto x = test_set->float_images(idx);
  torch::Tensor labels = test_set->labels.defined() ? test_set->labels.narrow(0, 0, n) : torch::Tensor();
  torch::Tensor y = test_set->attributes.defined() && config().conditional()
                        ? test_set->attributes.index_select(0, idx)
                        : torch::Tensor();
  worker.post("map", current_model(), model_version, [x, y, labels](AliModel& m, InferenceResult& out) {
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += 500) {
      int64_t len = std::min<int64_t>(500, x.size(0) - i);
      auto yy = y.defined() ? y.narrow(0, i, len) : zero_attributes(m.config, len);
      parts.push_back(encode_mu(m, x.narrow(0, i, len), yy));
    }
    auto mu = torch::cat(parts);
    Projection p = fit_pca(mu, 2);
    out.codes = mu;
    auto pts = p.apply(mu);
    out.values = labels.defined() ? torch::cat({pts, labels.to(torch::kFloat).unsqueeze(1)}, 1) : pts;
    out.numbers = {p.explained[0].item<double>(), p.explained[1].item<double>()};
  });
}

// ---- per frame -------------------------------------------------------------------------------------

void AppState::apply_result(InferenceResult& r) {
  if (r.kind == "sweep") sweep_rendering = false;
  if (!r.error.empty()) {
    if (r.kind == "sweep") {
      sweep_out_pending.clear();  // nothing to write: scripted runs need not wait for it
      error("attribute sweep: " + r.error);
    } else {
      error(r.kind + ": " + r.error);
    }
    return;
  }
  if (!r.message.empty()) info(r.message);
  if (r.kind == "samples" && !r.images.empty()) {
    if (!samples_tex) samples_tex = std::make_shared<Texture>();
    samples_tex->upload(r.images[0]);
  } else if (r.kind == "recons" && !r.images.empty()) {
    if (!recon_tex) recon_tex = std::make_shared<Texture>();
    recon_tex->upload(r.images[0]);
  } else if (r.kind == "inspect" && !r.images.empty()) {
    if (!inspect_tex) inspect_tex = std::make_shared<Texture>();
    inspect_tex->upload(r.images[0]);
    inspect_pixels = std::move(r.images[0]);
  } else if (r.kind == "interp" && !r.images.empty()) {
    if (!interp_tex) interp_tex = std::make_shared<Texture>();
    interp_tex->upload(r.images[0]);
  } else if (r.kind == "strip" && !r.images.empty()) {
    if (!strip_tex) strip_tex = std::make_shared<Texture>();
    strip_tex->upload(r.images[0]);
  } else if (r.kind == "sweep" && !r.images.empty()) {
    if (!sweep_tex) sweep_tex = std::make_shared<Texture>();
    sweep_tex->upload(r.images[0]);
    sweep_images = r.codes;
    sweep_shown_cols = r.numbers.empty() ? sweep_cols : int(r.numbers[0]);
    sweep_shown_rows = sweep_pending_rows;
    sweep_step = step();
    if (!sweep_out_pending.empty()) {
      export_sweep(sweep_out_pending);
      sweep_out_pending.clear();
    }
  } else if (r.kind == "dropped") {
    auto ids = r.values.contiguous();
    bool shelf_changed = false;
    for (int64_t i = 0; i < ids.size(0) && i < int64_t(r.images.size()); ++i) {
      uint64_t id = uint64_t(ids[i].item<int64_t>());
      for (auto& d : dropped) {
        if (d.id != id) continue;
        if (!d.recon) d.recon = std::make_shared<Texture>();
        d.recon->upload(r.images[size_t(i)]);
        auto code = code_vector(r.codes[i]);
        d.code = code;
        // Shelf entries of dropped images follow the model: re-encoded with every snapshot.
        ShelfEntry* e = nullptr;
        for (auto& s : shelf)
          if (s.source == d.path) e = &s;
        if (!e && !d.shelved) {
          add_to_shelf(d.name, code, d.path);
          shelf_changed = true;
        } else if (e && e->code != code) {
          e->code = code;
          shelf_changed = true;
        }
        d.shelved = true;
      }
    }
    if (shelf_changed) {
      shelf_dirty = true;
      post_shelf_thumbs();
      post_interp();
      post_strip();
    }
  } else if (r.kind == "shelf") {
    auto ids = r.values.contiguous();
    for (int64_t i = 0; i < ids.size(0) && i < int64_t(r.images.size()); ++i)
      if (ShelfEntry* e = shelf_entry(uint64_t(ids[i].item<int64_t>()))) {
        if (!e->thumb) e->thumb = std::make_shared<Texture>();
        e->thumb->upload(r.images[size_t(i)]);
      }
  } else if (r.kind == "map") {
    int picked0 = map.picked[0], picked1 = map.picked[1], next = map.next_pick;
    map = LatentMap{};
    map.codes = r.codes;
    map.points = r.values.size(1) > 2 ? r.values.narrow(1, 0, 2).contiguous() : r.values.contiguous();
    if (r.values.size(1) > 2) {
      auto l = r.values.select(1, 2).to(torch::kLong).contiguous();
      map.labels.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
    }
    if (r.numbers.size() >= 2) {
      map.explained[0] = float(r.numbers[0]);
      map.explained[1] = float(r.numbers[1]);
    }
    map.model_version = r.model_version;
    map.picked[0] = picked0 < map.points.size(0) ? picked0 : -1;
    map.picked[1] = picked1 < map.points.size(0) ? picked1 : -1;
    map.next_pick = next;
    dim_order = dimensions_by_variance(r.codes);
  }
}

void AppState::update() {
  tasks.poll(*this);
  if (!pending_drops.empty()) {
    auto paths = std::move(pending_drops);
    pending_drops.clear();
    handle_drops(paths);
  }
  if (session) {
    uint64_t v = session->snapshot_version();
    if (v != seen_snapshot) {
      seen_snapshot = v;
      header.step = session->step();
      bump_model();
    }
    if (session->state() == TrainState::Error && !session_error_reported) {
      session_error_reported = true;
      error("training stopped: " + session->error() +
            (fs::exists(session_checkpoint) ? " (the last good checkpoint is " + session_checkpoint + ")"
                                            : ""));
    }
    int64_t st = session->step();
    if (st != history_step && now() - history_at > 0.2) {
      history = session->history();
      history_step = st;
      history_at = now();
    }
    if (map_follow && session->state() == TrainState::Running && now() - map_posted_at > 10) request_map();
  }
  for (auto& r : worker.take_results()) apply_result(r);
  if (shelf_dirty && now() - shelf_saved_at > 1.0) persist();
}

void AppState::persist() {
  settings.lr = lr;
  settings.batch = batch;
  settings.max_steps = max_steps;
  settings.device = device_choice;
  settings.dataset = options.data.empty() ? dataset : settings.dataset;
  settings.strip_frames = strip_frames;
  settings.slerp = slerp;
  settings.save();
  std::vector<SavedShelfEntry> entries;
  for (const auto& e : shelf) entries.push_back({e.name, e.code, e.source});
  save_shelf(settings.dir, entries);
  shelf_dirty = false;
  shelf_saved_at = now();
}

void AppState::save_capture() {
  if (inspect_pixels.empty()) {
    error("no output image to save yet");
    return;
  }
  PixelBuffer b = inspect_pixels;
  fs::path p = fs::path(settings.capture_dir) / ("output-" + timestamp() + ".png");
  tasks.run("capture", [b, p]() -> Apply {
    auto t = torch::from_blob(const_cast<uint8_t*>(b.pixels.data()), {b.height, b.width, b.channels},
                              torch::kUInt8)
                 .permute({2, 0, 1})
                 .to(torch::kFloat)
                 .div(255.0);
    save_png(p, upscale(t, b.width < 48 ? 8 : 4));
    auto abs = fs::absolute(p).string();
    return [abs](AppState& s) { s.info("wrote " + abs); };
  });
}

}  // namespace ali::explorer
