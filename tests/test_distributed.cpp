// Data-parallel training: the launcher's variables, the rank-sharded batches, and two ranks over
// loopback c10d (two threads of this process, each with its own process group, as PyTorch's own
// c10d tests do): gradients averaged equal the gradient of the concatenated batch, parameters stay
// identical after steps, a silent peer is an error instead of a hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <map>
#include <thread>

#include "ali/gradient_sync.h"
#include "ali/training_session.h"
#include "test_util.h"

using namespace ali;

namespace {

std::optional<LaunchEnv> launch(const std::map<std::string, std::string>& vars) {
  return launch_from_environment([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

// A port nobody listens on now (the kernel's choice), for one test's rendezvous.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs f(rank) for ranks 0..world-1 on their own threads with their own GradientSync; rethrows the
// first failure.
void on_ranks(int world, const std::function<void(std::shared_ptr<GradientSync>)>& f,
              std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const int port = free_port();
  std::vector<std::future<void>> done;
  for (int r = 0; r < world; ++r)
    done.push_back(std::async(std::launch::async, [=] {
      LaunchEnv e;
      e.rank = r;
      e.world_size = world;
      e.local_rank = r;
      e.local_world_size = world;
      e.master_port = port;
      e.launcher = "test";
      f(make_distributed_sync(e, timeout, torch::kCPU));
    }));
  for (auto& d : done) d.get();
}

std::vector<torch::Tensor> tensors_of(AliModel& m, bool buffers) {
  std::vector<torch::Tensor> out;
  for (torch::nn::Module* net : {static_cast<torch::nn::Module*>(m.encoder.get()),
                                 static_cast<torch::nn::Module*>(m.decoder.get()),
                                 static_cast<torch::nn::Module*>(m.discriminator.get())})
    for (auto& t : buffers ? net->buffers() : net->parameters()) out.push_back(t.detach().clone());
  return out;
}

}  // namespace

// The suites that join a process group: skipped in a build without c10d (-DALI_DISTRIBUTED=OFF),
// where a launch is refused instead (DistributedLaunch.WithoutC10dALaunchIsRefusedWithAMessage).
class NeedsC10d : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!distributed_supported()) GTEST_SKIP() << "this build has no distributed support";
  }
};
class DistributedSync : public NeedsC10d {};
class DistributedTrainer : public NeedsC10d {};

TEST(DistributedLaunch, WithoutC10dALaunchIsRefusedWithAMessage) {
  if (distributed_supported()) GTEST_SKIP() << "this build has distributed support";
  LaunchEnv e;
  e.world_size = 2;
  e.launcher = "torchrun";
  auto err = test::error_of([&] { make_distributed_sync(e, std::chrono::seconds(1), torch::kCPU); });
  EXPECT_NE(err.find("no distributed support"), std::string::npos) << err;
  EXPECT_NE(err.find("torchrun launch asks for 2 processes"), std::string::npos) << err;
}

TEST(DistributedLaunch, ReadsEachLaunchersVariables) {
  EXPECT_FALSE(launch({}).has_value());
  auto t = launch({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                   {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->launcher, "torchrun");
  EXPECT_EQ(t->rank, 1);
  EXPECT_EQ(t->world_size, 4);
  EXPECT_EQ(t->local_world_size, 2);
  EXPECT_EQ(t->master_addr, "node7");
  EXPECT_EQ(t->master_port, 1234);
  EXPECT_FALSE(t->agent_store);  // variables set by hand: rank 0 serves the rendezvous
  EXPECT_EQ(t->restart_count, 0);
  // torchrun itself: its agent serves the store, and a relaunch counts its restarts.
  auto r = launch({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                   {"TORCHELASTIC_RESTART_COUNT", "2"}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->agent_store);
  EXPECT_EQ(r->restart_count, 2);
  EXPECT_FALSE(launch({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}})
                   ->agent_store);  // only torchrun's launch has an agent
  auto s = launch({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                   {"SLURM_NTASKS_PER_NODE", "4"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->launcher, "slurm");
  EXPECT_EQ(s->rank, 3);
  EXPECT_EQ(s->local_rank, 1);
  EXPECT_EQ(s->local_world_size, 4);
  EXPECT_EQ(s->master_addr, "127.0.0.1");
  EXPECT_EQ(s->master_port, 29500);
  auto m = launch({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"},
                   {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->launcher, "openmpi");
  EXPECT_EQ(m->world_size, 2);
  // torchrun under Slurm: torchrun's variables describe the worker.
  auto both = launch({{"RANK", "5"}, {"WORLD_SIZE", "6"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  EXPECT_EQ(both->rank, 5);
}

TEST(DistributedLaunch, BadValuesAreErrorsNamingThem) {
  auto err = [](const std::map<std::string, std::string>& vars) {
    return test::error_of([&] { launch(vars); });
  };
  EXPECT_NE(err({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x'"), std::string::npos);
  EXPECT_NE(err({{"RANK", "0"}, {"WORLD_SIZE", "0"}}).find("WORLD_SIZE='0'"), std::string::npos);
  EXPECT_NE(err({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK=2 is not below WORLD_SIZE=2"),
            std::string::npos);
  EXPECT_NE(err({{"RANK", "1"}}).find("WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(err({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT='70000'"),
            std::string::npos);
  EXPECT_NE(err({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", ""}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(err({{"SLURM_PROCID", "-1"}, {"SLURM_NTASKS", "2"}}).find("SLURM_PROCID='-1'"),
            std::string::npos);
  EXPECT_NE(err({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_RESTART_COUNT", "z"}})
                .find("TORCHELASTIC_RESTART_COUNT='z'"),
            std::string::npos);
}

// The ranks' slices of step s make up the global batch a single process with batch x world draws,
// so the data a step sees depends on (seed, step, world) only.
TEST(DistributedBatches, RankSlicesMakeUpTheGlobalBatch) {
  for (int64_t step : {0, 3, 7, 12}) {
    auto global = batch_indices(100, 16, 9, step);
    auto r0 = batch_indices(100, 8, 9, step, 0, 2), r1 = batch_indices(100, 8, 9, step, 1, 2);
    EXPECT_TRUE(torch::equal(torch::cat({r0, r1}), global)) << "step " << step;
  }
  EXPECT_THROW(batch_indices(100, 8, 9, 0, 2, 2), Error);
  EXPECT_NE(test::error_of([] { batch_indices(30, 8, 9, 0, 0, 4); }).find("8 per process x 4"),
            std::string::npos);
}

TEST_F(DistributedSync, AveragedGradientEqualsTheConcatenatedBatchGradient) {
  // A model without BatchNorm or noise, so each rank's half-batch gradient is exact.
  torch::manual_seed(3);
  auto x = torch::randn({8, 5}), y = torch::randn({8, 2});
  torch::nn::Sequential ref(torch::nn::Linear(5, 7), torch::nn::Tanh(), torch::nn::Linear(7, 2));
  torch::mse_loss(ref->forward(x), y).backward();
  auto expected = test::grads_of(ref->parameters());

  std::vector<std::vector<torch::Tensor>> got(2);
  on_ranks(2, [&](std::shared_ptr<GradientSync> sync) {
    const int r = sync->rank();
    auto net = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(ref->clone());
    if (r == 1) {  // rank 1 starts elsewhere; the broadcast gives it rank 0's weights
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.add_(1.0);
    }
    sync->broadcast(net->parameters());
    test::clear_grads(net->parameters());
    torch::mse_loss(net->forward(x.narrow(0, r * 4, 4)), y.narrow(0, r * 4, 4)).backward();
    sync->average_gradients(net->parameters());
    got[r] = test::grads_of(net->parameters());
  });
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(got[r].size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_TRUE(torch::allclose(got[r][i], expected[i], 1e-5, 1e-6)) << "rank " << r << " param " << i;
  }
}

TEST_F(DistributedSync, AnyAndSumReachEveryRank) {
  std::vector<int> any_true(3), any_false(3);
  std::vector<double> sums(3);
  on_ranks(3, [&](std::shared_ptr<GradientSync> sync) {
    const int r = sync->rank();
    any_true[r] = sync->any(r == 2);
    any_false[r] = sync->any(false);
    auto v = torch::full({2}, double(r + 1), torch::kDouble);
    sync->sum(v);
    sums[r] = v[1].item<double>();
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_TRUE(any_true[r]);
    EXPECT_FALSE(any_false[r]);
    EXPECT_EQ(sums[r], 6.0);
  }
}

// K steps of the real trainer on two ranks (each its own slice and noise): the parameters and, after
// sync_buffers, the BatchNorm statistics are identical on both, and training moved them.
TEST_F(DistributedTrainer, ParametersStayIdenticalAcrossRanks) {
  auto data = test::synthetic_set(64, 1, 28);
  std::vector<std::vector<torch::Tensor>> params(2), buffers(2), initial(2);
  std::vector<torch::Tensor> first_batch_loss(2);
  on_ranks(2, [&](std::shared_ptr<GradientSync> sync) {
    const int r = sync->rank();
    ModelConfig c;
    c.arch = "fmnist28";
    TrainOptions o;
    o.batch = 8;
    o.seed = 5;
    Trainer t(c, o, torch::kCPU);
    t.set_data(data);
    t.set_gradient_sync(sync);
    EXPECT_EQ(t.steps_per_epoch(), 64 / 16);
    initial[r] = tensors_of(t.model(), false);
    for (int k = 0; k < 3; ++k) t.step();
    t.sync_buffers();
    params[r] = tensors_of(t.model(), false);
    buffers[r] = tensors_of(t.model(), true);
  });
  ASSERT_EQ(params[0].size(), params[1].size());
  bool moved = false;
  for (size_t i = 0; i < params[0].size(); ++i) {
    EXPECT_TRUE(torch::equal(params[0][i], params[1][i])) << "parameter " << i;
    EXPECT_TRUE(torch::equal(initial[0][i], initial[1][i])) << "initial parameter " << i;
    moved = moved || !torch::equal(params[0][i], initial[0][i]);
  }
  EXPECT_TRUE(moved);
  for (size_t i = 0; i < buffers[0].size(); ++i)
    EXPECT_TRUE(torch::equal(buffers[0][i], buffers[1][i])) << "buffer " << i;
}

// A non-finite loss on one rank stops both at the same step (the losses are all-reduced).
TEST_F(DistributedTrainer, ANanOnOneRankStopsBoth) {
  auto data = test::synthetic_set(64, 1, 28);
  std::vector<int> threw(2);
  on_ranks(2, [&](std::shared_ptr<GradientSync> sync) {
    ModelConfig c;
    c.arch = "fmnist28";
    TrainOptions o;
    o.batch = 8;
    Trainer t(c, o, torch::kCPU);
    t.set_data(data);
    t.set_gradient_sync(sync);
    t.step();
    if (sync->rank() == 1) {
      torch::NoGradGuard ng;
      t.model().decoder->named_parameters()["out_bias"].fill_(std::nanf(""));
    }
    try {
      t.step();
    } catch (const NonFiniteLoss&) {
      threw[sync->rank()] = 1;
    }
  });
  EXPECT_TRUE(threw[0]);
  EXPECT_TRUE(threw[1]);
}

// A peer that stops answering is an error after the timeout on the rank that waits, never a hang.
TEST_F(DistributedSync, ASilentPeerIsAnErrorNotAHang) {
  std::string error;
  std::promise<void> rank0_done;
  auto rank0_finished = rank0_done.get_future().share();
  on_ranks(
      2,
      [&](std::shared_ptr<GradientSync> sync) {
        auto v = torch::ones({1}, torch::kDouble);
        sync->sum(v);  // both answer once
        if (sync->rank() == 0) {
          error = test::error_of([&] { sync->sum(v); });  // rank 1 never joins this one
          rank0_done.set_value();
        } else {
          rank0_finished.wait();  // silent, alive, until rank 0 has given up
        }
      },
      std::chrono::seconds(3));
  EXPECT_NE(error.find("another process has died or hangs"), std::string::npos) << error;
}

TEST_F(DistributedSync, MismatchedWorldSizesAreAnError) {
  const int port = free_port();
  auto start = [&](int rank, int world) {
    return std::async(std::launch::async, [=] {
      LaunchEnv e;
      e.rank = rank;
      e.world_size = world;
      e.master_port = port;
      return test::error_of([&] { make_distributed_sync(e, std::chrono::seconds(3), torch::kCPU); });
    });
  };
  auto r0 = start(0, 2), r1 = start(1, 3);
  std::string e1 = r1.get();
  EXPECT_NE(e1.find("world size of 3, rank 0 with 2"), std::string::npos) << e1;
  EXPECT_NE(r0.get(), "(no error)");  // rank 0 waits for a rank 1 that left: a timeout error
}

TEST_F(DistributedSync, AnUnreachableMasterIsAnErrorNamingIt) {
  LaunchEnv e;
  e.rank = 1;
  e.world_size = 2;
  e.master_port = free_port();
  std::string err =
      test::error_of([&] { make_distributed_sync(e, std::chrono::seconds(2), torch::kCPU); });
  EXPECT_NE(err.find("127.0.0.1:" + std::to_string(e.master_port)), std::string::npos) << err;
}
