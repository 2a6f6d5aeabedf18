#include "model_host.h"

#include <nlohmann/json.hpp>

#include "ali/device.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
struct TrainerBox {
  std::unique_ptr<Trainer> trainer;
};

// A session is torn down on a background thread: stopping waits for the step in flight and saves.
void retire(TaskRunner& tasks, std::shared_ptr<TrainingSession> s) {
  if (!s) return;
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

std::vector<Curve> probability_curves(const std::vector<std::string>& metric_names) {
  std::vector<Curve> out;
  for (const auto& m : metric_names) {
    if (m == "p_real")
      out.push_back({m, "D(x,E(x))"});
    else if (m == "p_fake")
      out.push_back({m, "D(G(z),z)"});
    else if (m.rfind("p_class", 0) == 0)
      out.push_back({m, "class " + m.substr(7)});
    else if (m.rfind("p_", 0) == 0 || m.rfind("acc_", 0) == 0)
      out.push_back({m, m});
  }
  return out;
}

ModelHost::ModelHost(AppState& app) : app_(app) {
  const Settings& st = app.settings;
  lr = st.lr;
  batch = st.batch;
  max_steps = st.max_steps;
  device_choice = app.options.device != "auto" ? app.options.device : st.device;
  precision_choice = parse_precision(app.options.precision);
  objective_choice.objective = app.options.objective;
  objective_choice.labels = app.options.labels;
}

ModelHost::~ModelHost() {
  if (session) session->stop();  // saves; the session's destructor joins
}

std::shared_ptr<const AliModel> ModelHost::current() const {
  if (session) return session->snapshot();
  return static_model;
}

bool ModelHost::training_active() const {
  if (!session) return false;
  auto s = session->state();
  return s == TrainState::Running || s == TrainState::Paused || s == TrainState::Stopping;
}

fs::path ModelHost::default_run_checkpoint() const {
  return app_.settings.dir / "runs" / (config().arch + "-" + timestamp() + ".ali");
}

void ModelHost::open(const std::string& p) {
  if (p.empty()) return;
  app_.watch.stop();  // another model: the watched run's checkpoints no longer replace it
  app_.tasks.run("open", [p]() -> Apply {
    CheckpointHeader h;
    auto m = load_model(p, torch::kCPU, &h);
    return [m, h, p](AppState& s) {
      s.host.adopt(m, h, p);
      s.settings.add_recent(p);
      s.info("opened " + p);
    };
  });
}

void ModelHost::follow(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& p) {
  if (!loaded || session || p != path || nlohmann::json(h.config) != nlohmann::json(header.config) ||
      h.class_names != header.class_names)
    return adopt(std::move(m), std::move(h), p);
  header = std::move(h);
  static_model = std::move(m);
  ++version;  // every view that follows the model re-renders
}

void ModelHost::adopt(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& p) {
  retire(app_.tasks, std::move(session));
  session.reset();
  pending_trainer.reset();
  header = std::move(h);
  path = p;
  static_model = std::move(m);
  loaded = true;
  history.clear();
  history_step_ = -1;
  steps_before_runs_ = -1;
  save_path.clear();
  ++version;
  ++adoptions;
  app_.model_adopted();
}

void ModelHost::create(const std::string& arch) {
  app_.watch.stop();
  ModelConfig c;
  c.arch = arch;
  TrainOptions o;
  o.batch = batch;
  o.lr = lr;
  o.precision = precision_choice;
  ObjectiveChoice choice = objective_choice;
  if (choice.objective != "semi") choice.labels = 0;
  torch::Device device = torch::kCPU;
  try {
    c = c.resolved();
    device = resolve_device(device_choice);
    check_objective_name(choice.objective.empty() ? "ali" : choice.objective);
  } catch (const std::exception& e) {
    app_.error(describe_exception(e));
    return;
  }
  std::string spec = app_.data.spec();
  auto cached = app_.data.cached_train_set(app_.data.key(spec, c, false));
  const int64_t planned = max_steps;
  app_.tasks.run("new", [c, o, choice, planned, device, spec, cached]() mutable -> Apply {
    auto data = cached ? cached
                       : std::make_shared<const ImageSet>(
                             load_dataset(spec, "train", c.image_size, c.image_channels));
    // The objective shapes D (classes for semi, M's features for gali-pretrain) from the data.
    int64_t steps = planned > 0 ? planned : 10 * std::max<int64_t>(1, data->size() / o.batch);
    std::vector<std::string> notes;
    c = apply_objective_choice(c, o, choice, *data, spec, steps, device,
                               [&notes](const std::string& m) { notes.push_back(m); });
    auto box = std::make_shared<TrainerBox>();
    box->trainer = std::make_unique<Trainer>(c, o, device);
    box->trainer->set_data(data);
    auto snap = box->trainer->model().clone_to(torch::kCPU);
    snap->train(false);
    CheckpointHeader h;
    h.config = box->trainer->model().config;
    h.options = box->trainer->options();
    h.class_names = data->class_names;
    return [box, snap, h, data, spec, notes](AppState& s) {
      s.host.adopt(snap, h, "");
      s.host.pending_trainer = std::move(box->trainer);
      s.data.keep_train_set(data, s.data.key(spec, h.config, false));
      s.host.train_device = s.host.pending_trainer->device();
      for (const auto& n : notes) s.info(n);
      s.info("new " + h.config.arch + " model (objective " + h.config.objective + ") on " +
             data->name + " (" + std::to_string(data->size()) + " images), ready to train");
      if (s.host.start_after_load) {
        s.host.start_after_load = false;
        s.host.start_training();
      }
    };
  });
}

void ModelHost::start_training() {
  TaskRunner& tasks = app_.tasks;
  if (tasks.busy("start") || tasks.busy("new") || tasks.busy("open") || tasks.busy("save")) {
    app_.info("busy: training starts when loading has finished");
    start_after_load = true;
    return;
  }
  if (session) {
    switch (session->state()) {
      case TrainState::Running:
        return;
      case TrainState::Paused:
        session->resume();
        return;
      case TrainState::Stopping:
        return;
      default:
        break;  // Idle/Completed/Error: continue from the run's checkpoint below
    }
  }
  if (!loaded) {
    start_after_load = true;
    create(new_arch);
    return;
  }
  if (app_.watch.active()) {
    // Training here continues from the watched checkpoint into a run of this program's own: the
    // watched folder is never written, and its later checkpoints no longer replace this model.
    app_.info("training a copy of the watched run here");
    app_.watch.stop();
  }
  torch::Device device = torch::kCPU;
  try {
    device = resolve_device(device_choice);
  } catch (const std::exception& e) {
    app_.error(describe_exception(e));
    return;
  }
  // "Train until N steps in all" with a model already past N would stop at once: the run goes on
  // from where the model is instead, and the steps field follows.
  if (const int64_t at = app_.step(), target = next_run_target(at); target != max_steps) {
    max_steps = target;
    app_.info("the model is at step " + std::to_string(at) + ": training on to step " +
              std::to_string(max_steps));
  }
  SessionOptions so;
  so.max_steps = max_steps;
  so.checkpoint_every = checkpoint_every;
  // The window first, then the views, then training (see kWorkerNice in app_state.cpp); a snapshot
  // re-renders every view, twice a second rather than four times.
  so.thread_nice = 10;
  so.snapshot_interval_s = 0.5;
  so.checkpoint_path = save_path.empty() ? default_run_checkpoint() : fs::path(save_path);
  double rate = lr;
  int want_batch = batch;
  const Precision precision = precision_choice;
  auto box = std::make_shared<TrainerBox>();
  std::string resume_from;
  if (pending_trainer && pending_trainer->device() == device &&
      pending_trainer->options().batch == batch) {
    box->trainer = std::move(pending_trainer);
  } else if (session && fs::exists(session_checkpoint)) {
    resume_from = session_checkpoint;
  } else if (!path.empty()) {
    resume_from = path;
  } else {
    // A new model not yet trained, for another device or batch size: build it again.
    pending_trainer.reset();
    start_after_load = true;
    create(config().arch);
    return;
  }
  retire(tasks, std::move(session));
  session.reset();
  std::string spec = app_.data.spec();
  const ModelConfig c = config();
  std::string key = app_.data.key(spec, c, false);
  auto cached = app_.data.cached_train_set(key);
  session_checkpoint = so.checkpoint_path.string();
  tasks.run("start",
            [box, resume_from, device, so, rate, want_batch, precision, spec, c, cached, key]() -> Apply {
              std::string note;
              if (!box->trainer) {
                box->trainer = Trainer::resume(resume_from, device);
                if (box->trainer->options().batch != want_batch)
                  note = "batch size " + std::to_string(box->trainer->options().batch) +
                         " comes from the checkpoint (a new batch size applies to new models)";
                if (box->trainer->options().fit_encoder) {  // a stage of the CLI's, not the game
                  box->trainer->set_fit_encoder(false);
                  note += std::string(note.empty() ? "" : "; ") +
                          "this model's last run fitted its encoder alone (ali train "
                          "--fit-encoder): training here plays the whole game";
                }
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
              t.set_precision(precision);  // the Train panel's choice, recorded in the checkpoint
              auto session = std::make_shared<TrainingSession>(std::move(box->trainer), so);
              int64_t first_step = session->step();
              session->start();
              return [session, data, key, note, device, first_step](AppState& s) {
                ModelHost& h = s.host;
                h.session = session;
                if (h.steps_before_runs_ < 0) h.steps_before_runs_ = first_step;
                h.static_model.reset();
                h.pending_trainer.reset();
                h.train_device = device;
                if (data) s.data.keep_train_set(data, key);
                h.seen_snapshot_ = 0;
                h.session_error_reported_ = false;
                s.info("training on " + device_description(device) + ", checkpoints to " +
                       h.session_checkpoint);
                if (!note.empty()) s.info(note);
              };
            });
}

void ModelHost::pause_or_resume() {
  if (!can_pause()) {
    start_training();
    return;
  }
  if (session->state() == TrainState::Paused)
    session->resume();
  else
    session->pause();
}

void ModelHost::stop_training() {
  if (!can_stop()) return;
  session->resume();  // a paused thread must wake up to stop
  session->stop();
  app_.info("stopping: the checkpoint is written at the end of the current step");
}

void ModelHost::save() {
  if (!loaded) {
    app_.error("nothing to save: no model is loaded");
    return;
  }
  if (can_save()) {
    session->request_save();
    if (session->state() == TrainState::Paused) {
      // The paused thread only wakes on resume/stop; wake it and pause again (it saves on waking).
      session->resume();
      session->pause();
    }
    app_.info("saving " + session_checkpoint);
    app_.settings.add_recent(session_checkpoint);
    return;
  }
  if (session) {  // Completed or Error: the run's last checkpoint is on disk
    app_.info("the run's checkpoint is " + session_checkpoint);
    return;
  }
  fs::path target = save_path.empty() ? default_run_checkpoint() : fs::path(save_path);
  if (pending_trainer) {
    auto box = std::make_shared<TrainerBox>();
    box->trainer = std::move(pending_trainer);
    app_.tasks.run("save", [box, target]() -> Apply {
      fs::create_directories(target.parent_path());
      std::string failed;
      try {
        box->trainer->save(target);
      } catch (const std::exception& e) {
        failed = describe_exception(e);
      }
      return [box, target, failed](AppState& s) {
        s.host.pending_trainer = std::move(box->trainer);  // back to the main thread in any case
        if (!failed.empty()) return s.error(failed);
        s.info("saved " + target.string());
        s.settings.add_recent(target.string());
      };
    });
    return;
  }
  std::string from = path;
  app_.tasks.run("save", [from, target]() -> Apply {
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

void ModelHost::poll() {
  if (!session) return;
  uint64_t v = session->snapshot_version();
  if (v != seen_snapshot_) {
    seen_snapshot_ = v;
    header.step = session->step();
    ++version;  // every view that follows the model re-renders
  }
  if (session->state() == TrainState::Error && !session_error_reported_) {
    session_error_reported_ = true;
    app_.error("training stopped: " + session->error() +
               (fs::exists(session_checkpoint)
                    ? " (the last good checkpoint is " + session_checkpoint + ")"
                    : ""));
  }
  int64_t st = session->step();
  if (st != history_step_ && app_.now() - history_at_ > 0.2) {
    history = session->history();
    history_step_ = st;
    history_at_ = app_.now();
  }
}

}  // namespace ali::explorer
