#include "ali/training_session.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

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
  if (options_.publish_snapshots) publish_snapshot();
}

TrainingSession::~TrainingSession() {
  stop();
  wait();
}

void TrainingSession::start() {
  if (thread_.joinable()) return;
  state_ = TrainState::Running;
  thread_ = StopThread([this](StopToken st) { run(st); });
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

std::exception_ptr TrainingSession::error_exception() const {
  std::lock_guard lock(mu_);
  return error_exception_;
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
  if (config_.reads_attributes() && options_.reading_refit_interval_s >= 0)
    give_reading_statistics(*snap);
  snap->train(false);
  {
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snap);
  }
  ++snapshot_version_;
}

// So that a window's drops are read as a saved checkpoint reads them (Trainer::save): refit every
// reading_refit_interval_s, the last refit's statistics carried to the snapshots in between.
void TrainingSession::give_reading_statistics(AliModel& snap) {
  const auto now = std::chrono::steady_clock::now();
  const std::chrono::duration<double> interval(options_.reading_refit_interval_s);
  const bool due = reading_statistics_.empty() || now - reading_refit_at_ >= interval;
  if (!due) {
    torch::NoGradGuard ng;
    auto live = snap.discriminator->image_branch_buffers();
    for (size_t i = 0; i < live.size() && i < reading_statistics_.size(); ++i)
      live[i].copy_(reading_statistics_[i]);
    return;
  }
  if (trainer_->refit_reading_statistics(snap, 2).is_null()) return;
  reading_statistics_.clear();
  for (const auto& b : snap.discriminator->image_branch_buffers())
    reading_statistics_.push_back(b.clone());
  reading_refit_at_ = now;
}

void TrainingSession::save_checkpoint(bool periodic) {
  if (options_.checkpoint_path.empty()) return;
  trainer_->sync_buffers();  // every rank; the file holds rank 0's statistics either way
  if (writer()) {
    for (auto& o : options_.observers) o->before_checkpoint(*trainer_);
    trainer_->save(options_.checkpoint_path);
  }
  saved_step_ = trainer_->step_count();
  if (!writer()) return;
  {
    std::lock_guard lock(mu_);
    last_saved_ = options_.checkpoint_path.string();
  }
  for (auto& o : options_.observers) o->on_checkpoint(*trainer_, periodic);
}

void TrainingSession::run(StopToken st) {
  using clock = std::chrono::steady_clock;
  // On Linux a nice value is per thread; the trainer's intra-op work runs on this thread (the
  // explorer trains with one intra-op thread). Failure (a sandbox forbidding it) only costs fluidity.
  if (options_.thread_nice > 0) ::setpriority(PRIO_PROCESS, ::gettid(), options_.thread_nice);
  auto last_snapshot = clock::now();
  auto rate_t0 = clock::now();
  int64_t rate_s0 = trainer_->step_count();
  const bool distributed = trainer_->world_size() > 1;
  try {
    while (true) {
      // A stop asked on any rank stops all of them after the same step (their collectives pair up).
      bool stop = st.stop_requested() || (options_.should_stop && options_.should_stop());
      if (distributed) stop = trainer_->gradient_sync().any(stop);
      if (stop) break;
      if (pause_requested_ && !distributed) {  // one rank cannot pause alone
        state_ = TrainState::Paused;
        rate_ = 0;
        if (options_.publish_snapshots) publish_snapshot();
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return st.stop_requested() || !pause_requested_.load() || save_requested_.load(); });
        lock.unlock();
        if (save_requested_.exchange(false)) save_checkpoint(false);
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
      if (writer())
        for (auto& o : options_.observers) o->on_step(*trainer_, s);
      auto now = clock::now();
      double dt = std::chrono::duration<double>(now - rate_t0).count();
      if (dt > 0.5) {
        rate_ = double(s.step - rate_s0) / dt;
        rate_t0 = now;
        rate_s0 = s.step;
      }
      if (options_.publish_snapshots &&
          std::chrono::duration<double>(now - last_snapshot).count() >= options_.snapshot_interval_s) {
        publish_snapshot();
        last_snapshot = now;
      }
      const bool periodic =
          options_.checkpoint_every > 0 &&
          (s.step % options_.checkpoint_every == 0 || s.step == options_.max_steps);
      if (periodic)
        save_checkpoint(true);
      else if (save_requested_.exchange(false))
        save_checkpoint(false);
      if (options_.keep_every > 0 && s.step % options_.keep_every == 0 &&
          !options_.checkpoint_path.empty()) {
        // Kept, so the best one can be chosen by evaluation later.
        trainer_->sync_buffers();
        char name[64];
        std::snprintf(name, sizeof name, "checkpoint_%07lld.ali", static_cast<long long>(s.step));
        if (writer()) trainer_->save(options_.checkpoint_path.parent_path() / name);
      }
    }
    state_ = TrainState::Stopping;
    if (options_.publish_snapshots) publish_snapshot();
    if (saved_step_ != trainer_->step_count()) save_checkpoint(false);  // not twice at one step
    if (writer())
      for (auto& o : options_.observers) o->on_end(*trainer_);
    state_ = TrainState::Completed;
  } catch (const std::exception& e) {
    // A diverged step leaves the model as it was, and the last checkpoint on disk is kept as it is.
    {
      std::lock_guard lock(mu_);
      error_ = describe_exception(e);
      error_exception_ = std::current_exception();
    }
    state_ = TrainState::Error;
  }
  rate_ = 0;
}

}  // namespace ali
