#pragma once
// A worker thread that its owner asks to stop and that is joined when destroyed: the part of
// std::jthread / std::stop_token that core uses, written out so that core also builds as C++17
// (scripts/fuzz compiles it with clang, which cannot take LibTorch 1.13's headers as C++20 against
// Debian 12's libstdc++).
//
// Unlike std::stop_token, a StopToken wakes no condition variable by itself: a thread waits with the
// stop in its predicate (`cv.wait(lock, [&] { return st.stop_requested() || ...; })`), and the owner,
// after request_stop(), takes the waiter's mutex once and then notifies (stop_and_wake does both),
// so that a waiter between its predicate check and its sleep cannot miss the stop.
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace ali {

class StopToken {
 public:
  StopToken() = default;
  bool stop_requested() const { return flag_ && flag_->load(); }

 private:
  friend class StopThread;
  explicit StopToken(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  std::shared_ptr<std::atomic<bool>> flag_;
};

class StopThread {
 public:
  StopThread() = default;
  // Runs f(StopToken) on a new thread.
  template <class F>
  explicit StopThread(F&& f) : flag_(std::make_shared<std::atomic<bool>>(false)) {
    thread_ = std::thread(std::forward<F>(f), StopToken(flag_));
  }
  StopThread(StopThread&&) noexcept = default;
  StopThread& operator=(StopThread&& other) noexcept {
    if (this != &other) {
      stop_and_join();
      thread_ = std::move(other.thread_);
      flag_ = std::move(other.flag_);
    }
    return *this;
  }
  StopThread(const StopThread&) = delete;
  StopThread& operator=(const StopThread&) = delete;
  ~StopThread() { stop_and_join(); }

  void request_stop() {
    if (flag_) flag_->store(true);
  }
  // request_stop(), then wakes the thread's waits on `cv` (guarded by `mu`) without a lost wake-up.
  template <class Mutex, class Cv>
  void stop_and_wake(Mutex& mu, Cv& cv) {
    request_stop();
    { std::lock_guard<Mutex> lock(mu); }
    cv.notify_all();
  }
  bool joinable() const { return thread_.joinable(); }
  void join() { thread_.join(); }

 private:
  void stop_and_join() {
    request_stop();
    if (thread_.joinable()) thread_.join();
  }
  std::thread thread_;
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace ali
