// Mixed precision (bf16 autocast with fp32 master weights) and the thread policy.
#include <gtest/gtest.h>

#include <thread>

#include "ali/checkpoint.h"
#include "ali/device.h"
#include "ali/models.h"
#include "ali/precision.h"
#include "ali/trainer.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;

namespace {
std::unique_ptr<Trainer> trainer_with(Precision p, int n = 32) {
  ModelConfig c;
  c.arch = "fmnist28";
  TrainOptions o;
  o.batch = 8;
  o.seed = 4;
  o.precision = p;
  o.rec_weight = 5;  // the shipped recipe's extra forward pass runs under autocast too
  auto t = std::make_unique<Trainer>(c, o, torch::kCPU);
  t->set_data(test::synthetic_set(n, 1, 28));
  return t;
}
}  // namespace

TEST(Precision, NamesParseAndRefuseUnknown) {
  for (auto p : {Precision::FP32, Precision::BF16, Precision::Auto})
    EXPECT_EQ(parse_precision(precision_name(p)), p);
  auto msg = error_of([] { parse_precision("fp16"); });
  EXPECT_NE(msg.find("unknown precision 'fp16'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fp32, bf16, auto"), std::string::npos) << msg;
}

TEST(Precision, AutoResolvesToBf16ExactlyWhereNative) {
  EXPECT_EQ(resolve_precision(Precision::FP32, torch::kCPU), Precision::FP32);
  EXPECT_EQ(resolve_precision(Precision::BF16, torch::kCPU), Precision::BF16);
  EXPECT_EQ(resolve_precision(Precision::Auto, torch::kCPU),
            bf16_native(torch::kCPU) ? Precision::BF16 : Precision::FP32);
}

TEST(Precision, Bf16StepGivesFiniteLossesAndFp32MasterWeights) {
  auto t = trainer_with(Precision::BF16);
  EXPECT_EQ(t->precision(), Precision::BF16);
  auto before = t->model().decoder->named_parameters()["stack.0.weight"].clone();
  for (int i = 0; i < 3; ++i) {
    StepStats s = t->step();
    EXPECT_TRUE(std::isfinite(s.d_loss) && std::isfinite(s.g_loss)) << "step " << i;
    EXPECT_GT(s.metric("p_real"), 0.0);
    EXPECT_LT(s.metric("p_real"), 1.0);
    EXPECT_GT(s.metric("rec"), 0.0);
  }
  for (auto* mod : std::initializer_list<torch::nn::Module*>{t->model().encoder.get(), t->model().decoder.get(),
                                                             t->model().discriminator.get()})
    for (const auto& p : mod->named_parameters()) {
      EXPECT_EQ(p.value().scalar_type(), torch::kFloat) << p.key();
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_EQ(p.value().grad().scalar_type(), torch::kFloat) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value()).all().item<bool>()) << p.key();
    }
  // The (oneDNN) transposed convolution's weight learned through the bf16 path.
  EXPECT_FALSE(torch::equal(before, t->model().decoder->named_parameters()["stack.0.weight"]));
  EXPECT_FALSE(autocast_active(torch::kCPU));  // nothing leaks out of the step
}

TEST(Precision, Bf16AndFp32StepsAgreeRoughly) {
  // Same seed, same batch: one step's losses differ only by bf16 rounding.
  auto a = trainer_with(Precision::FP32), b = trainer_with(Precision::BF16);
  StepStats sa = a->step(), sb = b->step();
  EXPECT_NEAR(sa.d_loss, sb.d_loss, 0.05);
  EXPECT_NEAR(sa.g_loss, sb.g_loss, 0.05);
}

TEST(Precision, RoundTripsThroughTheCheckpoint) {
  test::TempDir dir;
  for (auto p : {Precision::FP32, Precision::BF16, Precision::Auto}) {
    auto t = trainer_with(p);
    t->step();
    auto file = dir / ("m_" + precision_name(p) + ".ali");
    t->save(file);
    EXPECT_EQ(read_checkpoint_header(file).options.precision, p);
    auto r = Trainer::resume(file, torch::kCPU);
    EXPECT_EQ(r->options().precision, p);
  }
}

TEST(Precision, CheckpointsWithoutTheFieldReadAsFp32) {
  nlohmann::json j = TrainOptions{};
  j.erase("precision");
  TrainOptions o = j.get<TrainOptions>();
  EXPECT_EQ(o.precision, Precision::FP32);
  j["precision"] = "fp8";
  EXPECT_NE(error_of([&] { j.get<TrainOptions>(); }).find("unknown precision"), std::string::npos);
}

TEST(Precision, ConvolutionsWithAOneByOneOutputStayFp32UnderAutocast) {
  EXPECT_TRUE(ali::conv_keeps_fp32(1, 1, 1));   // D(z), D joint: 1x1 maps
  EXPECT_TRUE(ali::conv_keeps_fp32(4, 4, 1));   // the encoder's and D(x)'s last 4x4 layers
  EXPECT_FALSE(ali::conv_keeps_fp32(8, 4, 2));  // a 3x3 output: bf16
  EXPECT_FALSE(ali::conv_keeps_fp32(32, 5, 1));
  int ch = 0;
  auto stack = ali::make_conv_stack({{ali::LayerKind::Conv, 4, 2, 8, false},
                                     {ali::LayerKind::Conv, 3, 1, 8, false},
                                     {ali::LayerKind::Conv, 1, 1, 4, false}},
                                    3, 0.2f, false, 0, 0, &ch);
  auto x = torch::randn({2, 3, 8, 8});
  ali::AutocastGuard guard(ali::Precision::BF16, torch::kCPU);
  auto h1 = stack[0]->as<torch::nn::Conv2dImpl>()->forward(x);  // 8x8 -> 3x3: bf16
  EXPECT_EQ(h1.scalar_type(), torch::kBFloat16);
  auto out = stack->forward(x);  // ... 3x3 -> 1x1 and 1x1 -> 1x1: fp32
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 4, 1, 1}));
}

TEST(Threads, EnvironmentValueIsValidated) {
  EXPECT_EQ(threads_from_environment(nullptr, 4), 0);
  EXPECT_EQ(threads_from_environment("1", 4), 1);
  EXPECT_EQ(threads_from_environment("4", 4), 4);
  for (const char* bad : {"0", "5", "-1", "100000", "two", "2x", "", " 2", "99999999999999999999"}) {
    auto msg = error_of([&] { threads_from_environment(bad, 4); });
    EXPECT_NE(msg.find("ALI_THREADS='" + std::string(bad) + "'"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("from 1 to 4"), std::string::npos) << msg;
  }
}

TEST(Threads, ConfigureHonoursReserveAndEnvironment) {
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  unsetenv("ALI_THREADS");
  EXPECT_EQ(configure_threads(0), cores);
  EXPECT_EQ(at::get_num_threads(), cores);
  EXPECT_EQ(configure_threads(1), std::max(1, cores - 1));
  EXPECT_EQ(configure_threads(cores + 5), 1);  // never fewer than one
  setenv("ALI_THREADS", "1", 1);
  EXPECT_EQ(configure_threads(0), 1);
  setenv("ALI_THREADS", "100000", 1);
  EXPECT_THROW(configure_threads(0), Error);
  unsetenv("ALI_THREADS");
  configure_threads(0);
}

namespace {
std::unique_ptr<Trainer> fp32_trainer() {
  ModelConfig c;
  c.arch = "fmnist28";
  TrainOptions o;
  o.batch = 8;
  o.precision = Precision::FP32;
  auto t = std::make_unique<Trainer>(c, o, torch::kCPU);
  t->set_data(test::synthetic_set(32, 1, 28));
  return t;
}

bool all_4d_in(AliModel& m, torch::MemoryFormat f) {
  for (auto* net : {static_cast<torch::nn::Module*>(m.encoder.get()),
                    static_cast<torch::nn::Module*>(m.decoder.get()),
                    static_cast<torch::nn::Module*>(m.discriminator.get())})
    for (const auto& p : net->parameters())
      if (p.dim() == 4 && p.size(2) * p.size(3) > 1 && !p.is_contiguous(f)) return false;
  return true;
}
}  // namespace

TEST(MemoryFormat, ChannelsLastTrainsAsNchwDoesAndSurvivesResume) {
  test::TempDir dir;
  setenv("ALI_CHANNELS_LAST", "1", 1);
  auto nhwc = fp32_trainer();
  EXPECT_TRUE(all_4d_in(nhwc->model(), torch::MemoryFormat::ChannelsLast));
  auto a1 = nhwc->step(), a2 = nhwc->step();
  setenv("ALI_CHANNELS_LAST", "0", 1);
  auto nchw = fp32_trainer();
  EXPECT_TRUE(all_4d_in(nchw->model(), torch::MemoryFormat::Contiguous));
  EXPECT_FALSE(all_4d_in(nchw->model(), torch::MemoryFormat::ChannelsLast));
  auto b1 = nchw->step(), b2 = nchw->step();
  // The same arithmetic in another order: equal up to rounding, step after step.
  EXPECT_NEAR(a1.d_loss, b1.d_loss, 1e-4);
  EXPECT_NEAR(a1.g_loss, b1.g_loss, 1e-4);
  EXPECT_NEAR(a2.d_loss, b2.d_loss, 1e-3);
  EXPECT_NEAR(a2.g_loss, b2.g_loss, 1e-3);
  EXPECT_NE(a1.d_loss, a2.d_loss);

  nchw->save(dir.path() / "c.ali");  // written NCHW, resumed NHWC: converted after loading
  setenv("ALI_CHANNELS_LAST", "1", 1);
  auto resumed = Trainer::resume(dir.path() / "c.ali", torch::kCPU);
  EXPECT_TRUE(all_4d_in(resumed->model(), torch::MemoryFormat::ChannelsLast));
  resumed->set_data(test::synthetic_set(32, 1, 28));
  EXPECT_TRUE(std::isfinite(resumed->step().d_loss));

  setenv("ALI_CHANNELS_LAST", "yes", 1);
  auto msg = error_of([] { fp32_trainer(); });
  EXPECT_NE(msg.find("ALI_CHANNELS_LAST='yes'"), std::string::npos) << msg;
  unsetenv("ALI_CHANNELS_LAST");
}
