// The threaded training session the GUI drives: completion, pause/resume/stop, and a NaN.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "ali/training_session.h"
#include "test_util.h"

using namespace ali;
using namespace std::chrono_literals;

namespace {

using test::small_trainer;

bool wait_for(const std::function<bool()>& cond, std::chrono::seconds limit = 120s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST(Session, RunsToMaxStepsAndSaves) {
  test::TempDir dir;
  SessionOptions o;
  o.max_steps = 5;
  o.checkpoint_every = 0;
  o.checkpoint_path = dir / "run.ali";
  TrainingSession s(small_trainer(), o);
  EXPECT_EQ(s.state(), TrainState::Idle);
  ASSERT_NE(s.snapshot(), nullptr);
  s.start();
  s.wait();
  EXPECT_EQ(s.state(), TrainState::Completed) << s.error();
  EXPECT_EQ(s.step(), 5);
  EXPECT_EQ(s.history().size(), 5u);
  EXPECT_EQ(read_checkpoint_header(dir / "run.ali").step, 5);
  EXPECT_GE(s.snapshot_version(), 2u);
  EXPECT_FALSE(s.snapshot()->encoder->is_training());
}

TEST(Session, TrainsAtTheNiceValueAskedForAndLeavesTheCallerAlone) {
  struct Priority : SessionObserver {
    std::atomic<int> seen{-100};
    void on_step(const Trainer&, const StepStats&) override {
      errno = 0;
      seen = ::getpriority(PRIO_PROCESS, ::gettid());
    }
  };
  auto p = std::make_shared<Priority>();
  SessionOptions o;
  o.max_steps = 2;
  o.thread_nice = 7;
  o.observers.push_back(p);
  const int before = ::getpriority(PRIO_PROCESS, ::gettid());
  TrainingSession s(small_trainer(), o);
  s.start();
  s.wait();
  // Exactly 7, unless the caller was already nicer than that: then it stays so without privilege.
  if (before <= 7)
    EXPECT_EQ(p->seen.load(), 7);
  else
    EXPECT_TRUE(p->seen.load() == 7 || p->seen.load() == before) << p->seen.load();
  EXPECT_EQ(::getpriority(PRIO_PROCESS, ::gettid()), before);
}

TEST(Session, PauseHoldsTheStepAndStopSaves) {
  test::TempDir dir;
  SessionOptions o;
  o.checkpoint_path = dir / "run.ali";
  o.checkpoint_every = 0;
  TrainingSession s(small_trainer(), o);
  s.start();
  ASSERT_TRUE(wait_for([&] { return s.step() >= 1; }));
  s.pause();
  ASSERT_TRUE(wait_for([&] { return s.state() == TrainState::Paused; }));
  int64_t held = s.step();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(s.step(), held);
  s.request_save();  // honoured while paused
  ASSERT_TRUE(wait_for([&] { return !s.last_saved().empty(); }));
  EXPECT_EQ(read_checkpoint_header(dir / "run.ali").step, held);
  s.resume();
  ASSERT_TRUE(wait_for([&] { return s.step() > held; }));
  s.stop();
  s.wait();
  EXPECT_EQ(s.state(), TrainState::Completed);
  EXPECT_EQ(read_checkpoint_header(dir / "run.ali").step, s.step());
}

TEST(Session, NanStopsWithAnErrorAndKeepsTheLastCheckpoint) {
  test::TempDir dir;
  auto t = small_trainer();
  t->step();
  t->save(dir / "run.ali");
  std::string before = test::read_file(dir / "run.ali");
  {
    torch::NoGradGuard ng;
    t->model().decoder->named_parameters()["out_bias"].fill_(std::nanf(""));
  }
  SessionOptions o;
  o.checkpoint_path = dir / "run.ali";
  o.checkpoint_every = 1;
  TrainingSession s(std::move(t), o);
  s.start();
  s.wait();
  EXPECT_EQ(s.state(), TrainState::Error);
  EXPECT_NE(s.error().find("not finite"), std::string::npos) << s.error();
  EXPECT_EQ(test::read_file(dir / "run.ali"), before);
}

// The CLI's log and grids ride on observers: each step seen once, a checkpoint at the cadence and at
// max_steps (periodic), the end-of-run save not repeated at a step already saved, kept files.
TEST(Session, ObserversSeeStepsCheckpointsAndTheEndOnce) {
  struct Recorder : SessionObserver {
    std::vector<int64_t> steps, before, periodic, other;
    int ends = 0;
    void on_step(const Trainer&, const StepStats& s) override { steps.push_back(s.step); }
    void before_checkpoint(const Trainer& t) override { before.push_back(t.step_count()); }
    void on_checkpoint(const Trainer& t, bool p) override {
      (p ? periodic : other).push_back(t.step_count());
    }
    void on_end(const Trainer&) override { ++ends; }
  };
  test::TempDir dir;
  auto rec = std::make_shared<Recorder>();
  SessionOptions o;
  o.max_steps = 5;
  o.checkpoint_every = 2;
  o.keep_every = 4;
  o.checkpoint_path = dir / "checkpoint.ali";
  o.publish_snapshots = false;
  o.observers.push_back(rec);
  TrainingSession s(small_trainer(), o);
  EXPECT_EQ(s.snapshot(), nullptr);
  s.start();
  s.wait();
  ASSERT_EQ(s.state(), TrainState::Completed) << s.error();
  EXPECT_EQ(rec->steps, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(rec->periodic, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_TRUE(rec->other.empty());  // step 5 was saved by the cadence: no second final save
  EXPECT_EQ(rec->before, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_EQ(rec->ends, 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "checkpoint_0000004.ali"));
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint_0000002.ali"));
  EXPECT_EQ(read_checkpoint_header(dir / "checkpoint.ali").step, 5);
}

// should_stop (the CLI's signal flag) ends the run after the step in progress, saving it once.
TEST(Session, ShouldStopEndsTheRunAndSavesOnce) {
  struct Recorder : SessionObserver {
    int saves = 0;
    void on_checkpoint(const Trainer&, bool) override { ++saves; }
  };
  test::TempDir dir;
  auto rec = std::make_shared<Recorder>();
  std::atomic<int> flag{0};
  SessionOptions o;
  o.checkpoint_every = 0;
  o.checkpoint_path = dir / "checkpoint.ali";
  o.should_stop = [&] { return flag.load() != 0; };
  o.observers.push_back(rec);
  TrainingSession s(small_trainer(), o);
  s.start();
  ASSERT_TRUE(wait_for([&] { return s.step() >= 2; }));
  flag = 1;
  s.wait();
  EXPECT_EQ(s.state(), TrainState::Completed) << s.error();
  EXPECT_EQ(rec->saves, 1);
  EXPECT_EQ(read_checkpoint_header(dir / "checkpoint.ali").step, s.step());
}

// A NaN's exception reaches the program with its type (the CLI exits 3 on divergence).
TEST(Session, TheErrorKeepsItsType) {
  auto t = small_trainer();
  {
    torch::NoGradGuard ng;
    t->model().decoder->named_parameters()["out_bias"].fill_(std::nanf(""));
  }
  SessionOptions o;
  o.max_steps = 3;
  TrainingSession s(std::move(t), o);
  s.start();
  s.wait();
  ASSERT_EQ(s.state(), TrainState::Error);
  EXPECT_THROW(std::rethrow_exception(s.error_exception()), NonFiniteLoss);
}
