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

TEST(Session, SnapshotsOfAModelThatReadsAttributesReadWithRefitStatistics) {
  // D's running statistics average real and generated batches; a window reading drops from the
  // snapshots gets its image branch's statistics refit on training images, as a checkpoint does,
  // while the trainer's own model is left alone.
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  c.attributes = {"class0", "class1", "class2"};
  c.aux_classifier = true;
  TrainOptions to;
  to.batch = 10;
  to.aux_weight = 1.0;
  auto data = std::make_shared<const ImageSet>(with_class_attributes(*test::synthetic_set(300, 1, 28, 3)));
  auto run = [&](double interval, int64_t steps) {
    auto t = std::make_unique<Trainer>(c, to, torch::kCPU);
    t->set_data(data);
    auto want = t->model().clone_to(torch::kCPU);
    EXPECT_EQ(t->refit_reading_statistics(*want, 2).at("batches"), 2);
    std::vector<torch::Tensor> live;
    for (const auto& b : t->model().discriminator->buffers()) live.push_back(b.clone());
    const Trainer* raw = t.get();
    SessionOptions o;
    o.max_steps = steps;
    o.checkpoint_every = 0;
    o.reading_refit_interval_s = interval;
    auto s = std::make_unique<TrainingSession>(std::move(t), o);
    auto first = s->snapshot()->discriminator->image_branch_buffers();
    auto refit = want->discriminator->image_branch_buffers();
    bool as_refit = true;
    for (size_t i = 0; i < first.size(); ++i) as_refit = as_refit && torch::equal(first[i], refit[i]);
    auto after = raw->model().discriminator->buffers();
    for (size_t i = 0; i < live.size(); ++i) EXPECT_TRUE(torch::equal(live[i], after[i])) << i;
    s->start();
    s->wait();
    EXPECT_EQ(s->state(), TrainState::Completed) << s->error();
    // The last snapshot, after training moved the statistics: the first refit's, carried.
    auto last = s->snapshot()->discriminator->image_branch_buffers();
    bool carried = true;
    for (size_t i = 0; i < last.size(); ++i) carried = carried && torch::equal(last[i], refit[i]);
    return std::make_pair(as_refit, carried);
  };
  EXPECT_EQ(run(1e9, 3), std::make_pair(true, true));
  EXPECT_EQ(run(-1, 3), std::make_pair(false, false));  // never: training's own statistics
}
