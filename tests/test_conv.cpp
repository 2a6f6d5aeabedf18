// conv2d over the passes of conv.h (matrix products on small and full-patch maps, oneDNN elsewhere)
// against LibTorch's own conv2d: every conv layer shape of every preset, in fp32 (NCHW and NHWC) and
// bf16 (NHWC, as training runs), forward and all three gradients.
#include <gtest/gtest.h>

#include "ali/config.h"
#include "ali/conv.h"
#include "ali/precision.h"

using namespace ali;

namespace {

struct Shape {
  std::string where;
  int64_t cin, cout, kernel, stride, in_size;
};

// Returns the stack's output channels.
int64_t add_stack(std::vector<Shape>& out, const std::string& where, const std::vector<LayerSpec>& layers,
                  int64_t ch, int64_t size, bool maxout) {
  for (const auto& l : layers) {
    if (l.kind == LayerKind::Conv) out.push_back({where, ch, l.channels, l.kernel, l.stride, size});
    size = l.kind == LayerKind::ConvT ? (size - 1) * l.stride + l.kernel : (size - l.kernel) / l.stride + 1;
    ch = maxout ? l.channels / 2 : l.channels;
  }
  return ch;
}

// Every ordinary conv layer of every preset (encoder, decoder, D's three stacks), with its input size.
std::vector<Shape> preset_conv_shapes() {
  std::vector<Shape> out;
  for (const auto& name : arch_preset_names()) {
    ModelConfig c;
    c.arch = name;
    c = c.resolved();
    const ArchSpec& a = c.spec();
    add_stack(out, name + " encoder", a.encoder, c.image_channels, c.image_size, false);
    add_stack(out, name + " decoder", a.decoder, c.nlat, 1, false);
    const int64_t cx = add_stack(out, name + " D(x)", a.disc_x, c.image_channels, c.image_size, a.maxout);
    const int64_t cz = add_stack(out, name + " D(z)", a.disc_z, c.nlat, 1, a.maxout);
    add_stack(out, name + " D joint", a.disc_joint, cx + cz, 1, a.maxout);
  }
  return out;
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want, double rel, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  double scale = want.abs().max().item<double>() + 1e-12;
  double err = (got.to(torch::kFloat) - want.to(torch::kFloat)).abs().max().item<double>();
  EXPECT_LE(err / scale, rel) << what << ": max |diff| " << err << " at scale " << scale;
}

std::string describe(const Shape& s, int64_t batch, const char* extra) {
  return s.where + " " + std::to_string(s.cin) + "->" + std::to_string(s.cout) + " k" +
         std::to_string(s.kernel) + " s" + std::to_string(s.stride) + " @" + std::to_string(s.in_size) +
         " batch " + std::to_string(batch) + extra;
}

// conv2d_passes in `dtype` against torch's conv2d in fp32 on the same (dtype-rounded) values. x is cut
// from a larger batch, so it starts at a storage offset, as D's real and generated parts do.
void expect_matches_torch(const Shape& s, int64_t batch, bool bias, at::MemoryFormat format,
                          at::ScalarType dtype, double rel, double weight_rel) {
  const std::string what =
      describe(s, batch, format == at::MemoryFormat::ChannelsLast ? " NHWC" : " NCHW") +
      (dtype == torch::kBFloat16 ? " bf16" : "");
  auto big = torch::randn({batch + 2, s.cin, s.in_size, s.in_size}).to(dtype).contiguous(format);
  auto x = big.narrow(0, 2, batch).detach().requires_grad_();
  auto w = (torch::randn({s.cout, s.cin, s.kernel, s.kernel}) * 0.05)
               .to(dtype)
               .to(torch::kFloat)
               .contiguous(format)
               .requires_grad_();
  auto b = bias ? torch::randn({s.cout}).requires_grad_() : torch::Tensor();
  auto x_ref = x.detach().to(torch::kFloat).contiguous().requires_grad_();
  auto w_ref = w.detach().contiguous().requires_grad_();
  auto b_ref = bias ? b.detach().clone().requires_grad_() : torch::Tensor();

  auto want = torch::conv2d(x_ref, w_ref, b_ref, {s.stride, s.stride});
  auto got = conv2d_passes(x, w, b, s.stride, dtype);
  EXPECT_EQ(got.scalar_type(), dtype) << what;
  expect_close(got, want, rel, what + " forward");
  auto g = torch::randn_like(want).to(dtype).to(torch::kFloat);
  want.backward(g);
  got.backward(g.to(dtype));
  expect_close(x.grad(), x_ref.grad(), rel, what + " input gradient");
  ASSERT_EQ(w.grad().scalar_type(), torch::kFloat) << what;  // fp32 master weights keep fp32 grads
  expect_close(w.grad(), w_ref.grad(), weight_rel, what + " weight gradient");
  if (bias) expect_close(b.grad(), b_ref.grad(), rel, what + " bias gradient");
}

}  // namespace

TEST(Conv2dPasses, MatchesTorchForEveryPresetLayerInFp32) {
  auto shapes = preset_conv_shapes();
  ASSERT_GE(shapes.size(), 30u);
  torch::manual_seed(17);
  for (const auto& s : shapes)
    for (auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast})
      for (int64_t batch : {1, 7}) expect_matches_torch(s, batch, batch == 7, format, torch::kFloat, 1e-5, 1e-4);
}

TEST(Conv2dPasses, Bf16MatchesFp32OnEveryPresetLayer) {
  // Without AVX512_BF16/AMX, LibTorch's and oneDNN's bf16 convolutions and matrix products are
  // emulated and lose ~20 % on long reductions (an AMD EPYC with AVX2 measured 0.19 on the celeba64
  // weight gradients, in oneDNN's own passes too); `auto` precision trains in fp32 there.
  if (!bf16_native(torch::kCPU)) GTEST_SKIP() << "this CPU has no native bf16 arithmetic";
  torch::manual_seed(18);
  for (const auto& s : preset_conv_shapes())
    expect_matches_torch(s, 7, true, at::MemoryFormat::ChannelsLast, torch::kBFloat16, 2e-2, 2e-2);
}

// Which pass takes a matrix product: the shapes the comparisons above must have exercised.
TEST(Conv2dPasses, SmallAndFullPatchMapsTakeTheMatrixProductPath) {
  auto nhwc = [](int64_t c, int64_t size, at::ScalarType t) {
    return torch::zeros({2, c, size, size}, torch::dtype(t)).contiguous(at::MemoryFormat::ChannelsLast);
  };
  const auto bf = torch::kBFloat16, f = torch::kFloat;
  // 8 x 8 -> 3 x 3 (k4 s2) and 11 -> 8 (k4 s1): at most 64 output pixels, bf16 NHWC.
  EXPECT_TRUE(conv_weight_grad_uses_matmul(nhwc(64, 8, bf), nhwc(128, 3, bf), 4));
  EXPECT_TRUE(conv_weight_grad_uses_matmul(nhwc(32, 11, bf), nhwc(64, 8, bf), 4));
  // 24 -> 11 has 121 output pixels: oneDNN; so does fp32 on a small map, and NCHW.
  EXPECT_FALSE(conv_weight_grad_uses_matmul(nhwc(16, 24, bf), nhwc(32, 11, bf), 4));
  EXPECT_FALSE(conv_weight_grad_uses_matmul(nhwc(64, 8, f), nhwc(128, 3, f), 4));
  EXPECT_FALSE(conv_weight_grad_uses_matmul(torch::zeros({2, 64, 8, 8}, torch::dtype(bf)),
                                            torch::zeros({2, 128, 3, 3}, torch::dtype(bf)), 4));
  // Full patch (the map is one kernel window): every dtype and layout.
  EXPECT_TRUE(conv_is_full_patch({2, 128, 3, 3}, 3));
  EXPECT_TRUE(conv_is_full_patch({2, 512, 1, 1}, 1));
  EXPECT_FALSE(conv_is_full_patch({2, 128, 4, 4}, 3));
  EXPECT_TRUE(conv_weight_grad_uses_matmul(torch::zeros({2, 128, 3, 3}), torch::zeros({2, 256, 1, 1}), 3));
  // Input gradient: matrix product and col2im for bf16 NHWC outputs of at most 3 x 3, and every
  // full patch; oneDNN for 8 x 8 outputs, fp32 and NCHW.
  const auto cl = at::MemoryFormat::ChannelsLast;
  EXPECT_TRUE(conv_input_grad_uses_matmul(nhwc(128, 3, bf), {2, 64, 8, 8}, 4, cl));
  EXPECT_FALSE(conv_input_grad_uses_matmul(nhwc(64, 8, bf), {2, 32, 11, 11}, 4, cl));
  EXPECT_FALSE(conv_input_grad_uses_matmul(nhwc(128, 3, f), {2, 64, 8, 8}, 4, cl));
  EXPECT_FALSE(conv_input_grad_uses_matmul(torch::zeros({2, 128, 3, 3}, torch::dtype(bf)), {2, 64, 8, 8}, 4,
                                           at::MemoryFormat::Contiguous));
  EXPECT_TRUE(conv_input_grad_uses_matmul(torch::zeros({2, 256, 1, 1}), {2, 128, 3, 3}, 3,
                                          at::MemoryFormat::Contiguous));
}

TEST(Conv2dPasses, UnderAutocastTheCallerChoosesTheDtype) {
  torch::manual_seed(19);
  auto x = torch::randn({3, 8, 6, 6});
  auto w = (torch::randn({4, 8, 3, 3}) * 0.1).requires_grad_();
  auto want = torch::conv2d(x, w.detach());
  AutocastGuard guard(Precision::BF16, torch::kCPU);
  EXPECT_EQ(conv_compute_dtype(x), torch::kBFloat16);
  auto y16 = conv2d_passes(x, w, {}, 1, conv_compute_dtype(x));
  auto y32 = conv2d_passes(x, w, {}, 1, torch::kFloat);  // e.g. the 1 x 1-output policy
  EXPECT_EQ(y16.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(y32.scalar_type(), torch::kFloat);
  expect_close(y32, want, 1e-5, "fp32 under autocast");
  expect_close(y16, y32.detach(), 2e-2, "bf16");
}

TEST(Conv2dPasses, RejectsMismatchedChannelsAndSmallMaps) {
  EXPECT_THROW(conv2d_passes(torch::randn({1, 3, 4, 4}), torch::randn({5, 2, 3, 3}), {}, 1, torch::kFloat),
               c10::Error);
  EXPECT_THROW(conv2d_passes(torch::randn({1, 3, 2, 2}), torch::randn({5, 3, 3, 3}), {}, 1, torch::kFloat),
               c10::Error);
}
