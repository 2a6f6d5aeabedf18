// The threaded training session the GUI drives: completion, pause/resume/stop, and a NaN.
#include <gtest/gtest.h>

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
