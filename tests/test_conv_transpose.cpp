// The oneDNN transposed convolution against LibTorch's own, for every layer shape the presets use,
// and the shipped checkpoints (written with torch::nn::ConvTranspose2d) giving the same images.
#include <gtest/gtest.h>

#include "ali/checkpoint.h"
#include "ali/config.h"
#include "ali/conv_transpose.h"
#include "ali/models.h"
#include "ali/precision.h"

using namespace ali;

namespace {

struct Shape {
  std::string preset;
  int64_t cin, cout, kernel, stride, in_size;
};

// Every transposed-conv layer of every preset, with its input size.
std::vector<Shape> preset_shapes() {
  std::vector<Shape> out;
  for (const auto& name : arch_preset_names()) {
    ModelConfig c;
    c.arch = name;
    c = c.resolved();
    int64_t ch = c.nlat, size = 1;
    for (const auto& l : c.spec().decoder) {
      if (l.kind == LayerKind::ConvT) out.push_back({name, ch, l.channels, l.kernel, l.stride, size});
      size = l.kind == LayerKind::ConvT ? (size - 1) * l.stride + l.kernel : (size - l.kernel) / l.stride + 1;
      ch = l.channels;
    }
  }
  return out;
}

// Relative to the reference's scale: values differ by rounding order only.
void expect_close(const torch::Tensor& got, const torch::Tensor& want, double rel, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  double scale = want.abs().max().item<double>() + 1e-12;
  double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err / scale, rel) << what << ": max |diff| " << err << " at scale " << scale;
}

}  // namespace

namespace {
// The oneDNN layer (its weight stored in `weight_format`) against torch's own on the same values:
// forward, input, weight and bias gradients. Returns the oneDNN output.
torch::Tensor expect_matches_torch(const Shape& s, int64_t batch, bool bias,
                                   torch::MemoryFormat weight_format) {
  std::string what = s.preset + " " + std::to_string(s.cin) + "->" + std::to_string(s.cout) + " k" +
                     std::to_string(s.kernel) + " s" + std::to_string(s.stride) + " in " +
                     std::to_string(s.in_size) + " batch " + std::to_string(batch) +
                     (bias ? " bias" : "") +
                     (weight_format == torch::MemoryFormat::ChannelsLast ? " NHWC" : "");
  auto x = torch::randn({batch, s.cin, s.in_size, s.in_size}).requires_grad_();
  auto w = (torch::randn({s.cin, s.cout, s.kernel, s.kernel}) * 0.05).requires_grad_();
  auto b = bias ? torch::randn({s.cout}).requires_grad_() : torch::Tensor();
  auto x2 = x.detach().clone().requires_grad_();
  auto w2 = w.detach().contiguous(weight_format).requires_grad_();
  auto b2 = bias ? b.detach().clone().requires_grad_() : torch::Tensor();

  auto want = torch::conv_transpose2d(x, w, b, {s.stride, s.stride});
  auto got = conv_transpose2d_onednn(x2, w2, b2, s.stride);
  expect_close(got, want, 1e-5, what + " forward");
  auto g = torch::randn_like(want);
  want.backward(g);
  got.backward(g);
  expect_close(x2.grad(), x.grad(), 1e-5, what + " input gradient");
  expect_close(w2.grad(), w.grad(), 1e-4, what + " weight gradient");
  if (bias) expect_close(b2.grad(), b.grad(), 1e-5, what + " bias gradient");
  return got;
}
}  // namespace

TEST(ConvTranspose, MatchesTorchForEveryPresetLayer) {
  auto shapes = preset_shapes();
  ASSERT_GE(shapes.size(), 16u);  // 5 or 4 per preset, 4+ presets
  torch::manual_seed(7);
  for (const auto& s : shapes)
    for (int64_t batch : {1, 7})
      for (bool bias : {false, true})
        expect_matches_torch(s, batch, bias, torch::MemoryFormat::Contiguous);
}

TEST(ConvTranspose, ChannelsLastWeightsGiveTheSameResultsInNhwc) {
  torch::manual_seed(8);
  for (const auto& s : preset_shapes()) {
    auto got = expect_matches_torch(s, 7, false, torch::MemoryFormat::ChannelsLast);
    EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast)) << s.preset;
  }
}

TEST(ConvTranspose, ModuleKeepsTorchParameterNamesShapesAndInit) {
  torch::manual_seed(3);
  torch::nn::ConvTranspose2d theirs(torch::nn::ConvTranspose2dOptions(16, 8, 4).stride(2));
  torch::manual_seed(3);
  ConvTranspose2d ours(ConvTranspose2dOptions{.in_channels = 16, .out_channels = 8, .kernel = 4, .stride = 2});
  auto a = theirs->named_parameters(), b = ours->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) {
    ASSERT_TRUE(b.contains(p.key())) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  }
  auto x = torch::randn({2, 16, 5, 5});
  expect_close(ours->forward(x), theirs->forward(x), 1e-5, "module forward");
  ConvTranspose2d no_bias(ConvTranspose2dOptions{.in_channels = 4, .out_channels = 2, .kernel = 3, .bias = false});
  EXPECT_EQ(no_bias->named_parameters().size(), 1u);
  EXPECT_EQ(no_bias->forward(torch::randn({1, 4, 2, 2})).sizes(), (std::vector<int64_t>{1, 2, 4, 4}));
}

TEST(ConvTranspose, Bf16UnderAutocastIsCloseAndGradientsStayFp32) {
  torch::manual_seed(5);
  auto x = torch::randn({4, 64, 4, 4});
  auto w = (torch::randn({64, 32, 4, 4}) * 0.05).requires_grad_();
  auto want = torch::conv_transpose2d(x, w.detach(), {}, {2, 2});
  torch::Tensor got;
  {
    AutocastGuard guard(Precision::BF16, torch::kCPU);
    got = conv_transpose2d_onednn(x, w, {}, 2);
  }
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  expect_close(got.to(torch::kFloat), want, 2e-2, "bf16 forward");
  got.to(torch::kFloat).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().scalar_type(), torch::kFloat);  // master weights keep fp32 gradients
  EXPECT_TRUE(torch::isfinite(w.grad()).all().item<bool>());
  EXPECT_FALSE(autocast_active(torch::kCPU));  // the guard restored the thread's state
}

TEST(ConvTranspose, RejectsMismatchedChannels) {
  auto x = torch::randn({1, 3, 4, 4});
  auto w = torch::randn({5, 2, 3, 3});
  EXPECT_THROW(conv_transpose2d_onednn(x, w, {}, 1), c10::Error);
}

// A decoder forward computed with LibTorch's own transposed convolution on the model's weights.
torch::Tensor reference_decode(AliModel& m, const torch::Tensor& z) {
  torch::NoGradGuard ng;
  m.train(false);
  auto children = m.decoder->named_children();
  auto* stack = dynamic_cast<torch::nn::SequentialImpl*>(children["stack"].get());
  auto* head = dynamic_cast<torch::nn::Conv2dImpl*>(children["head"].get());
  EXPECT_TRUE(stack && head);
  auto h = z.reshape({z.size(0), -1, 1, 1});
  for (const auto& child : stack->children()) {
    if (auto t = std::dynamic_pointer_cast<ConvTranspose2dImpl>(child))
      h = torch::conv_transpose2d(h, t->weight, t->bias, {t->options.stride, t->options.stride});
    else if (auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(child))
      h = c->forward(h);
    else if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(child))
      h = bn->forward(h);
    else if (auto r = std::dynamic_pointer_cast<torch::nn::LeakyReLUImpl>(child))
      h = r->forward(h);
    else
      ADD_FAILURE() << "unexpected decoder layer " << child->name();
  }
  return torch::sigmoid(head->forward(h) + m.decoder->named_parameters()["out_bias"]);
}

TEST(ConvTranspose, ShippedCheckpointsDecodeAsWithTorchsOwnLayer) {
  const std::filesystem::path assets = ALI_ASSETS_DIR;
  int checked = 0;
  for (const char* name : {"fmnist28.ali"}) {  // the unconditional shipped model (no attribute input)
    if (!std::filesystem::exists(assets / name)) continue;
    auto m = load_model(assets / name, torch::kCPU);
    auto z = seeded_normal(16, m->config.nlat, 11);
    auto got = decode(*m, z);
    auto want = reference_decode(*m, z);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 1) << "assets/fmnist28.ali is missing";
}
