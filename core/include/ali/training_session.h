// A Trainer driven from its own thread: start/pause/resume/stop requests handled at step boundaries,
// an atomic state, a bounded loss history, periodic checkpoints, and immutable CPU snapshots of the
// model published several times a second for the UI.
#pragma once
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "ali/error.h"
#include "ali/trainer.h"

namespace ali {

enum class TrainState { Idle, Running, Paused, Stopping, Completed, Error };
const char* to_string(TrainState s);

struct SessionOptions {
  int64_t max_steps = 0;                     // 0: until stopped
  int64_t checkpoint_every = 500;            // steps; 0: only on stop/completion
  std::filesystem::path checkpoint_path;     // empty: never written
  double snapshot_interval_s = 0.25;         // how often a fresh snapshot is published
  size_t history_limit = 20000;              // loss history entries kept (older are thinned)
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
  void run(std::stop_token st);
  void publish_snapshot();
  void save_checkpoint();
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
  std::string error_, last_saved_;
  std::jthread thread_;
};

}  // namespace ali
