// The model the views draw with and the training runs that change it: open, new, train, pause,
// stop, save. Slow work goes to the TaskRunner, training to a TrainingSession; nothing here waits
// for them.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/objective.h"
#include "ali/training_session.h"

namespace ali::explorer {

struct AppState;

// The probability-like metrics of an objective (D's mean probabilities, accuracies, all in [0, 1]),
// one Train-panel curve each, with their labels: ALI's two pairs, each K-way objective's true classes
// (GALI: one curve per tuple), semi's labelled accuracy and real/generated probabilities.
struct Curve {
  std::string metric, label;
};
std::vector<Curve> probability_curves(const std::vector<std::string>& metric_names);

class ModelHost {
 public:
  explicit ModelHost(AppState& app);
  ~ModelHost();

  std::string path;         // checkpoint the model came from ("" = new model)
  CheckpointHeader header;  // config, options and step of what is loaded
  bool loaded = false;
  std::shared_ptr<const AliModel> static_model;  // when not training
  std::shared_ptr<TrainingSession> session;      // when a training run exists
  std::string session_checkpoint;                // where it saves
  std::unique_ptr<Trainer> pending_trainer;      // a new model, built but not yet training
  bool start_after_load = false;
  std::string save_path;  // "" = a new file under <config>/runs
  torch::Device train_device{torch::kCPU};
  uint64_t version = 0;    // bumps whenever the model used for inference changes (snapshots too)
  uint64_t adoptions = 0;  // bumps when another model is adopted (not for snapshots)

  // Training controls.
  double lr = 1e-4;
  int batch = 100;
  // Train until this step in all (0: until stopped); a model already past it trains
  // kDefaultRunSteps more (next_run_target).
  static constexpr int64_t kDefaultRunSteps = 6000;
  int64_t max_steps = kDefaultRunSteps;
  // The step the next run trains to from `step`: max_steps, or step + kDefaultRunSteps when the
  // model is already at or past it (the shipped models are past the default).
  int64_t next_run_target(int64_t step) const {
    return max_steps > 0 && max_steps <= step ? step + kDefaultRunSteps : max_steps;
  }
  int64_t checkpoint_every = 500;
  std::string device_choice = "auto";
  Precision precision_choice = Precision::Auto;  // applied when a run starts
  ObjectiveChoice objective_choice;              // for new models (objective "" = ali)
  std::string new_arch = "fmnist28";
  std::vector<StepStats> history;

  std::shared_ptr<const AliModel> current() const;
  const ModelConfig& config() const { return header.config; }
  int64_t step() const { return session ? session->step() : header.step; }
  int64_t trained_steps() const {
    return session && steps_before_runs_ >= 0 ? session->step() - steps_before_runs_ : 0;
  }
  bool training_active() const;  // running, paused or stopping
  bool can_pause() const { return session && session->can_pause(); }
  bool can_stop() const { return session && session->can_stop(); }
  bool can_save() const { return session && session->can_save(); }

  void open(const std::string& path);
  void create(const std::string& arch);
  // Makes `m` the model every view draws with; the previous run stops (and saves) in the
  // background.
  void adopt(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& path);
  // A watched run's newer checkpoint: a later state of the model loaded from `path` replaces it as a
  // training snapshot does (views re-render; the inspector, attributes and map keep their settings);
  // a model of another configuration is adopted.
  void follow(std::shared_ptr<AliModel> m, CheckpointHeader h, const std::string& path);
  void start_training();
  void pause_or_resume();
  void stop_training();
  void save();  // the run's checkpoint (or a copy of the opened one) to the save path
  // Once a frame: new snapshots, a run's error, the loss history.
  void poll();

 private:
  std::filesystem::path default_run_checkpoint() const;
  AppState& app_;
  uint64_t seen_snapshot_ = 0;
  bool session_error_reported_ = false;
  int64_t steps_before_runs_ = -1;  // step when the first run of this program started
  int64_t history_step_ = -1;
  double history_at_ = -1;
};

}  // namespace ali::explorer
