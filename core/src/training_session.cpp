#include "ali/training_session.h"

#include <chrono>

namespace ali {

const char* to_string(TrainState s) {
  switch (s) {
    case TrainState::Idle: return "idle";
    case TrainState::Running: return "running";
    case TrainState::Paused: return "paused";
    case TrainState::Stopping: return "stopping";
    case TrainState::Completed: return "completed";
    case TrainState::Error: return "error";
  }
  return "?";
}

TrainingSession::TrainingSession(std::unique_ptr<Trainer> trainer, SessionOptions options)
    : trainer_(std::move(trainer)), options_(std::move(options)), config_(trainer_->model().config) {
  if (!trainer_->has_data()) throw Error("the trainer has no data");
  step_ = trainer_->step_count();
  publish_snapshot();
}

TrainingSession::~TrainingSession() {
  stop();
  wait();
}

void TrainingSession::start() {
  if (thread_.joinable()) return;
  state_ = TrainState::Running;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void TrainingSession::pause() {
  pause_requested_ = true;
}

void TrainingSession::resume() {
  pause_requested_ = false;
  wake();
}

void TrainingSession::wake() {
  { std::lock_guard lock(mu_); }  // a waiter between its predicate check and its sleep sees this
  cv_.notify_all();
}

void TrainingSession::stop() {
  if (thread_.joinable()) thread_.request_stop();
  wake();
}

void TrainingSession::wait() {
  if (thread_.joinable()) thread_.join();
}

void TrainingSession::request_save() {
  save_requested_ = true;
  wake();
}

void TrainingSession::set_learning_rate(double lr) {
  if (!(lr > 0)) throw Error("learning rate must be positive");
  pending_lr_ = lr;
}

std::string TrainingSession::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::string TrainingSession::last_saved() const {
  std::lock_guard lock(mu_);
  return last_saved_;
}

std::vector<StepStats> TrainingSession::history() const {
  std::lock_guard lock(mu_);
  return history_;
}

std::shared_ptr<const AliModel> TrainingSession::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void TrainingSession::publish_snapshot() {
  auto snap = trainer_->model().clone_to(torch::kCPU);
  snap->train(false);
  {
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snap);
  }
  ++snapshot_version_;
}

void TrainingSession::save_checkpoint() {
  if (options_.checkpoint_path.empty()) return;
  trainer_->save(options_.checkpoint_path);
  std::lock_guard lock(mu_);
  last_saved_ = options_.checkpoint_path.string();
}

void TrainingSession::run(std::stop_token st) {
  using clock = std::chrono::steady_clock;
  auto last_snapshot = clock::now();
  auto rate_t0 = clock::now();
  int64_t rate_s0 = trainer_->step_count();
  try {
    while (!st.stop_requested()) {
      if (pause_requested_) {
        state_ = TrainState::Paused;
        rate_ = 0;
        publish_snapshot();
        std::unique_lock lock(mu_);
        cv_.wait(lock, st, [&] { return !pause_requested_.load() || save_requested_.load(); });
        lock.unlock();
        if (save_requested_.exchange(false)) save_checkpoint();
        if (pause_requested_) continue;
        state_ = TrainState::Running;
        rate_t0 = clock::now();
        rate_s0 = trainer_->step_count();
        continue;
      }
      if (options_.max_steps > 0 && trainer_->step_count() >= options_.max_steps) break;
      if (double lr = pending_lr_.exchange(0.0); lr > 0) trainer_->set_learning_rate(lr);

      StepStats s = trainer_->step();
      step_ = s.step;
      {
        std::lock_guard lock(mu_);
        history_.push_back(s);
        if (history_.size() > options_.history_limit) {  // keep every other old entry
          std::vector<StepStats> thinned;
          for (size_t i = 0; i < history_.size(); i += (i < history_.size() / 2 ? 2 : 1))
            thinned.push_back(history_[i]);
          history_ = std::move(thinned);
        }
      }
      auto now = clock::now();
      double dt = std::chrono::duration<double>(now - rate_t0).count();
      if (dt > 0.5) {
        rate_ = double(s.step - rate_s0) / dt;
        rate_t0 = now;
        rate_s0 = s.step;
      }
      if (std::chrono::duration<double>(now - last_snapshot).count() >= options_.snapshot_interval_s) {
        publish_snapshot();
        last_snapshot = now;
      }
      if (save_requested_.exchange(false) ||
          (options_.checkpoint_every > 0 && s.step % options_.checkpoint_every == 0))
        save_checkpoint();
    }
    state_ = TrainState::Stopping;
    publish_snapshot();
    save_checkpoint();
    state_ = TrainState::Completed;
  } catch (const std::exception& e) {
    // A diverged step leaves the model as it was, and the last checkpoint on disk is kept as it is.
    {
      std::lock_guard lock(mu_);
      error_ = describe_exception(e);
    }
    state_ = TrainState::Error;
  }
  rate_ = 0;
}

}  // namespace ali
