// .ali checkpoints: round trip, resume equals an uninterrupted run, and every bad file is refused
// with a message that says what is wrong.
#include <gtest/gtest.h>

#include "ali/checkpoint.h"
#include "ali/trainer.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;
namespace fs = std::filesystem;

namespace {

ModelConfig fmnist() {
  ModelConfig c;
  c.arch = "fmnist28";
  return c;
}

TrainOptions small_batch(uint64_t seed = 3) {
  TrainOptions o;
  o.batch = 8;
  o.seed = seed;
  return o;
}

void expect_same_state(torch::nn::Module& a, torch::nn::Module& b, double atol) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (auto& p : pa)
    EXPECT_TRUE(torch::allclose(p.value(), pb[p.key()], 1e-5, atol)) << p.key();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  for (auto& p : ba) EXPECT_TRUE(torch::allclose(p.value(), bb[p.key()], 1e-5, atol)) << p.key();
}


}  // namespace

TEST(Checkpoint, RoundTripKeepsWeightsAndHeader) {
  test::TempDir dir;
  Trainer t(fmnist(), small_batch(), torch::kCPU);
  t.set_data(test::synthetic_set(40, 1, 28));
  t.step();
  t.step();
  t.save(dir / "m.ali", {{"note", "hello"}});
  CheckpointHeader h;
  auto m = load_model(dir / "m.ali", torch::kCPU, &h);
  EXPECT_EQ(h.step, 2);
  EXPECT_EQ(h.config.arch, "fmnist28");
  EXPECT_EQ(h.config.nlat, 64);
  EXPECT_EQ(h.config.dataset, "synthetic");
  EXPECT_EQ(h.options.batch, 8);
  EXPECT_EQ(h.extra["note"], "hello");
  EXPECT_EQ(h.class_names.size(), 10u);
  expect_same_state(*t.model().encoder, *m->encoder, 0);
  expect_same_state(*t.model().decoder, *m->decoder, 0);
  expect_same_state(*t.model().discriminator, *m->discriminator, 0);
  for (const auto& e : fs::directory_iterator(dir.path()))  // the temporary file was renamed away
    EXPECT_EQ(e.path().filename(), "m.ali");
}

TEST(Checkpoint, ResumedRunEqualsUninterruptedRun) {
  test::TempDir dir;
  auto data = test::synthetic_set(40, 1, 28);  // 5 batches per epoch: the run crosses an epoch
  const int K = 8;
  Trainer straight(fmnist(), small_batch(), torch::kCPU);
  straight.set_data(data);
  for (int i = 0; i < K; ++i) straight.step();

  {
    Trainer first(fmnist(), small_batch(), torch::kCPU);
    first.set_data(data);
    for (int i = 0; i < K / 2; ++i) first.step();
    first.save(dir / "half.ali");
  }
  torch::manual_seed(12345);  // whatever happened in between must not matter
  auto resumed = Trainer::resume(dir / "half.ali", torch::kCPU);
  resumed->set_data(data);
  EXPECT_EQ(resumed->step_count(), K / 2);
  for (int i = 0; i < K / 2; ++i) resumed->step();
  EXPECT_EQ(resumed->step_count(), K);
  expect_same_state(*straight.model().encoder, *resumed->model().encoder, 1e-6);
  expect_same_state(*straight.model().decoder, *resumed->model().decoder, 1e-6);
  expect_same_state(*straight.model().discriminator, *resumed->model().discriminator, 1e-6);
}

TEST(Checkpoint, WeightsOnlyFileLoadsAndResumesWithFreshOptimisers) {
  test::TempDir dir;
  Trainer t(fmnist(), small_batch(), torch::kCPU);
  auto data = test::synthetic_set(40, 1, 28);
  t.set_data(data);
  t.step();
  t.save(dir / "full.ali");
  CheckpointHeader h = read_checkpoint_header(dir / "full.ali");
  save_model(dir / "small.ali", t.model(), h);
  EXPECT_LT(std::filesystem::file_size(dir / "small.ali"),
            std::filesystem::file_size(dir / "full.ali") / 2);
  auto m = load_model(dir / "small.ali", torch::kCPU);
  expect_same_state(*t.model().decoder, *m->decoder, 0);
  auto r = Trainer::resume(dir / "small.ali", torch::kCPU);
  r->set_data(data);
  EXPECT_EQ(r->step_count(), 1);
  EXPECT_TRUE(std::isfinite(r->step().d_loss));
}

TEST(Checkpoint, BadFilesAreRefusedWithAReason) {
  test::TempDir dir;
  Trainer t(fmnist(), small_batch(), torch::kCPU);
  t.set_data(test::synthetic_set(16, 1, 28));
  t.save(dir / "good.ali");
  std::string good = test::read_file(dir / "good.ali");
  auto load = [&](const std::string& name) {
    return [&, name] { load_model(dir / name, torch::kCPU); };
  };

  EXPECT_NE(error_of(load("missing.ali")).find("does not exist"), std::string::npos);

  test::write_file(dir / "truncated.ali", good.substr(0, good.size() / 2));
  EXPECT_NE(error_of(load("truncated.ali")).find("truncated"), std::string::npos);

  test::write_file(dir / "short.ali", good.substr(0, 10));
  EXPECT_NE(error_of(load("short.ali")).find("truncated"), std::string::npos);

  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 0x5A;
  test::write_file(dir / "flipped.ali", flipped);
  EXPECT_NE(error_of(load("flipped.ali")).find("corrupt"), std::string::npos);

  test::write_file(dir / "text.ali", "hello, I am not a model\n");
  EXPECT_NE(error_of(load("text.ali")).find("not an ALI checkpoint"), std::string::npos);

  test::write_file(dir / "empty.ali", "");
  EXPECT_NE(error_of(load("empty.ali")).find("not an ALI checkpoint"), std::string::npos);

  test::write_file(dir / "torch.pt", std::string("PK\x03\x04", 4).append(100, 'x'));
  EXPECT_NE(error_of(load("torch.pt")).find("zip"), std::string::npos);

  std::string newer = good;
  newer[8] = 99;  // format version
  test::write_file(dir / "newer.ali", newer);
  EXPECT_NE(error_of(load("newer.ali")).find("format 99"), std::string::npos);

  EXPECT_NE(error_of([&] { load_model(dir.path(), torch::kCPU); }).find("folder"), std::string::npos);
  EXPECT_TRUE(looks_like_checkpoint(dir / "good.ali"));
  EXPECT_FALSE(looks_like_checkpoint(dir / "text.ali"));
  EXPECT_TRUE(has_checkpoint_extension("a/model.ali"));
  EXPECT_TRUE(has_checkpoint_extension("MODEL.ALI"));
  EXPECT_TRUE(has_checkpoint_extension("m.Ali"));
  EXPECT_FALSE(has_checkpoint_extension("model.ali.png"));
  EXPECT_FALSE(has_checkpoint_extension("ali"));
  EXPECT_FALSE(has_checkpoint_extension(".ali"));  // a hidden file named ".ali", no extension
}

TEST(Checkpoint, MismatchedModelIsNamed) {
  ModelConfig celeba;
  celeba.arch = "celeba64";
  std::string msg = error_of([&] { check_compatible(celeba, fmnist(), "x.ali"); });
  EXPECT_EQ(msg, "x.ali was written for arch celeba64, this model is fmnist28");
  ModelConfig small = fmnist();
  small.nlat = 16;
  EXPECT_NE(error_of([&] { check_compatible(small, fmnist(), "x.ali"); }).find("latent size 16"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { check_compatible(fmnist(), fmnist(), "x.ali"); }), "(no error)");
}

TEST(Checkpoint, AveragedModelsAreTheMeanOfTheirWeightsAndStatistics) {
  test::TempDir dir;
  auto data = test::synthetic_set(40, 1, 28);
  // Two points of one run (a step apart: other weights, BatchNorm statistics and batch counts).
  Trainer t(fmnist(), small_batch(), torch::kCPU);
  t.set_data(data);
  t.step();
  t.save(dir / "a.ali");
  t.step();
  t.save(dir / "b.ali");
  auto a = load_model(dir / "a.ali", torch::kCPU), b = load_model(dir / "b.ali", torch::kCPU);
  CheckpointHeader h;
  auto m = average_models({dir / "a.ali", dir / "b.ali"}, &h);
  EXPECT_EQ(h.step, 2);  // the last file's header
  ASSERT_TRUE(h.extra.contains("averaged_from"));
  EXPECT_EQ(h.extra["averaged_from"].size(), 2u);
  EXPECT_EQ(h.extra["averaged_from"][0]["step"], 1);
  EXPECT_FALSE(m->encoder->is_training());
  int64_t moved = 0;
  for (auto [net, na, nb] : {std::tuple<torch::nn::Module*, torch::nn::Module*, torch::nn::Module*>{
                                 m->encoder.get(), a->encoder.get(), b->encoder.get()},
                             {m->decoder.get(), a->decoder.get(), b->decoder.get()},
                             {m->discriminator.get(), a->discriminator.get(), b->discriminator.get()}}) {
    auto pa = na->named_parameters(), pb = nb->named_parameters();
    for (auto& p : net->named_parameters()) {
      EXPECT_TRUE(torch::allclose(p.value(), (pa[p.key()] + pb[p.key()]) / 2, 1e-6, 1e-7)) << p.key();
      moved += !torch::equal(pa[p.key()], pb[p.key()]);
    }
    auto ba = na->named_buffers(), bb = nb->named_buffers();
    for (auto& q : net->named_buffers()) {
      if (q.value().is_floating_point())  // running statistics: the mean
        EXPECT_TRUE(torch::allclose(q.value(), (ba[q.key()] + bb[q.key()]) / 2, 1e-6, 1e-7)) << q.key();
      else  // batch counts: the last file's
        EXPECT_TRUE(torch::equal(q.value(), bb[q.key()])) << q.key();
    }
  }
  EXPECT_GT(moved, 10);  // the step changed the weights: the mean is neither file
  // One file: that model, unchanged, and no record of an average.
  CheckpointHeader one;
  auto same = average_models({dir / "b.ali"}, &one);
  expect_same_state(*same->decoder, *b->decoder, 0);
  EXPECT_FALSE(one.extra.contains("averaged_from"));
  // Another model, none, or a missing file: refused with what is wrong.
  ModelConfig small = fmnist();
  small.nlat = 16;
  Trainer other(small, small_batch(), torch::kCPU);
  other.save(dir / "other.ali");
  EXPECT_EQ(error_of([&] { average_models({dir / "a.ali", dir / "other.ali"}); }),
            "cannot average " + (dir / "other.ali").string() + " with " + (dir / "a.ali").string() +
                ": they are different models (nlat differs)");
  EXPECT_EQ(error_of([&] { average_models({}); }), "no models to average");
  EXPECT_NE(error_of([&] { average_models({dir / "a.ali", dir / "missing.ali"}); }).find("missing.ali"),
            std::string::npos);
}
