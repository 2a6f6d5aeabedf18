// The explorer's non-UI logic in ali_core: the inference worker (newest request per kind, stale ones
// dropped, errors reported, snapshot copies) and the PCA behind the latent map.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "ali/error.h"
#include "ali/inference_worker.h"
#include "ali/pca.h"

namespace {

using namespace std::chrono_literals;

std::vector<ali::InferenceResult> wait_results(ali::InferenceWorker& w, size_t count) {
  std::vector<ali::InferenceResult> all;
  for (int i = 0; i < 400 && all.size() < count; ++i) {
    for (auto& r : w.take_results()) all.push_back(std::move(r));
    if (all.size() < count) std::this_thread::sleep_for(10ms);
  }
  return all;
}

std::shared_ptr<const ali::AliModel> small_model() {
  ali::ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  return std::make_shared<const ali::AliModel>(c);
}

TEST(InferenceWorker, ServesOnlyTheNewestRequestPerKind) {
  ali::InferenceWorker w;
  auto model = small_model();
  std::atomic<bool> release{false};
  std::atomic<int> ran_values{0};
  // Block the worker with one slow job, then post five of another kind: only the last may run.
  w.post("slow", model, 1, [&](ali::AliModel&, ali::InferenceResult&) {
    while (!release) std::this_thread::sleep_for(1ms);
  });
  std::this_thread::sleep_for(50ms);
  uint64_t last = 0;
  for (int i = 1; i <= 5; ++i)
    last = w.post("decode", model, 1, [&, i](ali::AliModel&, ali::InferenceResult& out) {
      ran_values += i;
      out.numbers = {double(i)};
    });
  EXPECT_EQ(w.latest_generation("decode"), last);
  release = true;
  auto results = wait_results(w, 2);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results)
    if (r.kind == "decode") {
      EXPECT_EQ(r.generation, last);
      ASSERT_EQ(r.numbers.size(), 1u);
      EXPECT_EQ(r.numbers[0], 5.0);
    }
  EXPECT_EQ(ran_values.load(), 5);  // requests 1..4 were dropped unrun
  for (int i = 0; i < 100 && w.busy(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(w.busy());
}

TEST(InferenceWorker, RunsOnAPrivateCopyAndReportsErrors) {
  ali::InferenceWorker w;
  auto model = small_model();
  const ali::AliModel* seen = nullptr;
  w.post("decode", model, 7, [&](ali::AliModel& m, ali::InferenceResult& out) {
    seen = &m;
    auto x = ali::decode(m, ali::seeded_normal(2, m.config.nlat, 1));
    out.images.push_back(ali::to_pixels(x[0]));
  });
  auto r = wait_results(w, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].error.empty()) << r[0].error;
  EXPECT_NE(seen, model.get());  // never the snapshot itself
  ASSERT_EQ(r[0].images.size(), 1u);
  EXPECT_EQ(r[0].images[0].width, 28);
  EXPECT_EQ(r[0].images[0].channels, 1);
  EXPECT_EQ(r[0].images[0].pixels.size(), 28u * 28u);

  w.post("bad", model, 7, [](ali::AliModel&, ali::InferenceResult&) { throw ali::Error("broken input"); });
  r = wait_results(w, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, "broken input");

  w.post("none", nullptr, 8, [](ali::AliModel&, ali::InferenceResult&) {});
  r = wait_results(w, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].error.empty());
}

TEST(InferenceWorker, RunsAtTheNiceValueAskedFor) {
  const int caller = ::getpriority(PRIO_PROCESS, ::gettid());
  ali::InferenceWorker w(6);
  w.post("nice", small_model(), 1, [](ali::AliModel&, ali::InferenceResult& out) {
    out.message = std::to_string(::getpriority(PRIO_PROCESS, ::gettid()));
  });
  auto r = wait_results(w, 1);
  ASSERT_EQ(r.size(), 1u);
  // Exactly 6, unless the caller was already nicer than that: then it stays so without privilege.
  const int seen = std::stoi(r[0].message);
  if (caller <= 6)
    EXPECT_EQ(seen, 6);
  else
    EXPECT_TRUE(seen == 6 || seen == caller) << seen;
  EXPECT_EQ(::getpriority(PRIO_PROCESS, ::gettid()), caller);
}

TEST(Pca, FindsTheMainAxisAndOrdersDimensions) {
  torch::manual_seed(3);
  // Variance 25 along (1, 1, 0)/sqrt(2), 1 along z, 0.01 along (1, -1, 0)/sqrt(2).
  auto t = torch::randn({2000, 3}) * torch::tensor({5.0f, 1.0f, 0.1f});
  auto rot = torch::tensor({{0.70710678f, 0.0f, 0.70710678f},
                            {0.70710678f, 0.0f, -0.70710678f},
                            {0.0f, 1.0f, 0.0f}});
  auto rows = torch::matmul(t, rot.t()) + 3.0f;
  ali::Projection p = ali::fit_pca(rows, 2);
  ASSERT_EQ(p.components.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_NEAR(std::abs(p.components[0][0].item<float>()), 0.7071f, 0.02f);
  EXPECT_NEAR(std::abs(p.components[0][1].item<float>()), 0.7071f, 0.02f);
  EXPECT_NEAR(std::abs(p.components[1][2].item<float>()), 1.0f, 0.02f);
  EXPECT_GT(p.explained[0].item<float>(), 0.9f);
  auto proj = p.apply(rows);
  EXPECT_NEAR(proj.mean(0).abs().max().item<float>(), 0.0f, 1e-3f);
  // The same data gives the same picture (signs fixed).
  EXPECT_TRUE(torch::allclose(ali::fit_pca(rows, 2).components, p.components));
  auto order = ali::dimensions_by_variance(t);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_THROW(ali::fit_pca(torch::zeros({1, 3})), ali::Error);
  auto diverged = rows.clone();
  diverged[5][1] = NAN;
  EXPECT_THROW(ali::fit_pca(diverged), ali::Error);  // not LibTorch's "eigh failed to converge"
}

}  // namespace
