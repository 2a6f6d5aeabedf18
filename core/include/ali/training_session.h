// A Trainer driven from its own thread: start/pause/resume/stop requests handled at step boundaries,
// an atomic state, a bounded loss history, periodic checkpoints, and immutable CPU snapshots of the
// model published several times a second for the UI. The one training loop: the GUI and `ali train`
// (through observers) both run on it, so checkpoint cadence, the end-of-run save, the NaN policy and
// the rank policy of a data-parallel run (all ranks stop together, only rank 0 writes) live here.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>

#include "ali/error.h"
#include "ali/trainer.h"
#include "ali/stop_thread.h"

namespace ali {

enum class TrainState { Idle, Running, Paused, Stopping, Completed, Error };
const char* to_string(TrainState s);

// What a program adds to a run (the CLI's log.csv and sample grids): called on the session's thread,
// on rank 0 only (the one rank that writes). An exception ends the run as an error.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void on_step(const Trainer& t, const StepStats& s) {}
  // Just before a checkpoint is written: what must not lag behind it on disk (a log) is flushed here.
  virtual void before_checkpoint(const Trainer& t) {}
  // After checkpoint_path was written at t.step_count(); periodic: by the checkpoint cadence (or at
  // max_steps with a cadence), not at a stop or on request.
  virtual void on_checkpoint(const Trainer& t, bool periodic) {}
  // The run ended (completed or stopped), after its final checkpoint.
  virtual void on_end(const Trainer& t) {}
};

struct SessionOptions {
  int64_t max_steps = 0;                     // 0: until stopped
  int64_t checkpoint_every = 500;            // steps; 0: only on stop/completion
  std::filesystem::path checkpoint_path;     // empty: never written
  // Also keep checkpoint_STEP.ali beside checkpoint_path every this many steps (0: never).
  int64_t keep_every = 0;
  double snapshot_interval_s = 0.25;         // how often a fresh snapshot is published
  // A model that reads attributes: its snapshots' discriminator image-branch statistics are refit on
  // 2 batches of training images this often (Trainer::refit_reading_statistics) and carried to the
  // snapshots in between; negative: never (snapshots read with training's statistics).
  double reading_refit_interval_s = 10.0;
  // > 0: the training thread runs at this nice value (Linux; lower priority), so that a window's
  // frames and its inference take the cores first when they need them and training has the rest.
  int thread_nice = 0;
  bool publish_snapshots = true;             // false: none (a headless run has no one to show them)
  size_t history_limit = 20000;              // loss history entries kept (older are thinned)
  // Asked at every step boundary: true ends the run as stop() does (e.g. a signal's flag).
  std::function<bool()> should_stop;
  std::vector<std::shared_ptr<SessionObserver>> observers;
};

class TrainingSession {
 public:
  TrainingSession(std::unique_ptr<Trainer> trainer, SessionOptions options);
  ~TrainingSession();  // stops and joins (saving if a checkpoint path is set)
  TrainingSession(const TrainingSession&) = delete;
  TrainingSession& operator=(const TrainingSession&) = delete;

  void start();
  void pause();
  void resume();
  void stop();         // asks the thread to save and end; returns at once
  void wait();         // joins the thread
  void request_save();  // a checkpoint at the next step boundary
  void set_learning_rate(double lr);

  TrainState state() const { return state_.load(); }
  // What a UI may ask of the run now: pause (or resume) and stop while it runs or is paused, and a
  // checkpoint at the next step boundary likewise (a finished run has written its last one).
  bool can_pause() const { return live(state()); }
  bool can_stop() const { return live(state()); }
  bool can_save() const { return live(state()); }
  std::string error() const;
  // The exception that ended the run in TrainState::Error (NonFiniteLoss, NonFiniteWeights, ...),
  // for a program that treats kinds differently; null otherwise.
  std::exception_ptr error_exception() const;
  int64_t step() const { return step_.load(); }
  double steps_per_second() const { return rate_.load(); }
  int64_t max_steps() const { return options_.max_steps; }
  std::vector<StepStats> history() const;
  // The latest published model: an eval-mode copy on the CPU that nobody writes to.
  std::shared_ptr<const AliModel> snapshot() const;
  uint64_t snapshot_version() const { return snapshot_version_.load(); }
  std::string last_saved() const;
  const ModelConfig& config() const { return config_; }

 private:
  static bool live(TrainState s) { return s == TrainState::Running || s == TrainState::Paused; }
  void run(StopToken st);
  void publish_snapshot();
  void give_reading_statistics(AliModel& snap);  // a snapshot of a model that reads attributes
  // Collective in a data-parallel run (every rank calls it at the same step); rank 0 writes.
  void save_checkpoint(bool periodic);
  bool writer() const { return trainer_->rank() == 0; }
  void wake();

  std::unique_ptr<Trainer> trainer_;  // touched only by the thread once started
  SessionOptions options_;
  ModelConfig config_;
  std::atomic<TrainState> state_{TrainState::Idle};
  std::atomic<bool> pause_requested_{false}, save_requested_{false};
  std::atomic<double> pending_lr_{0.0};
  std::atomic<int64_t> step_{0};
  std::atomic<double> rate_{0.0};
  std::atomic<uint64_t> snapshot_version_{0};
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<StepStats> history_;
  std::shared_ptr<const AliModel> snapshot_;
  std::vector<torch::Tensor> reading_statistics_;  // the last refit's image-branch buffers
  std::chrono::steady_clock::time_point reading_refit_at_;
  std::string error_, last_saved_;
  std::exception_ptr error_exception_;
  int64_t saved_step_ = -1;  // the step of the last checkpoint written (the final save is not repeated)
  StopThread thread_;
};

}  // namespace ali
