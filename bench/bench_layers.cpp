// Per-layer profile of one preset's training step (default celeba64, batch 100): for every block of the
// encoder, decoder and discriminator (conv or transposed conv, BatchNorm, activation), the median
// forward and backward time, in three variants side by side:
//   torch-fp32   LibTorch 1.13's own ops (transposed convs take slow_conv_transpose2d): the "before"
//   onednn-fp32  transposed convs through conv_transpose.h (every conv on oneDNN): the "after", fp32
//   onednn-bf16  the same under bf16 autocast, every layer
//   model-bf16   what the models run with --precision bf16: bf16 autocast, except convolutions with a
//                1 x 1 output map, which stay fp32 (ali::conv_keeps_fp32)
// D's blocks see 2 x batch rows, as in training (real and generated pairs in one batch). The backward
// asks for the input and weight gradients, as training does. A benchmark: it asserts nothing.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "ali/config.h"
#include "ali/conv_transpose.h"
#include "ali/device.h"
#include "ali/error.h"
#include "ali/models.h"
#include "ali/precision.h"
#include "bench_util.h"

using clock_type = std::chrono::steady_clock;

namespace {

bool g_cpu_time = false;  // --cpu-time: process CPU ms instead of wall ms (robust on a shared machine)

double now_ms() {
  if (g_cpu_time) return ali::bench::process_cpu_ms();
  return std::chrono::duration<double, std::milli>(clock_type::now().time_since_epoch()).count();
}

using ali::bench::median;

enum class Variant { TorchFp32, OnednnFp32, OnednnBf16, ModelBf16 };
constexpr int kVariants = 4;

struct Block {
  std::string net, desc;
  ali::LayerSpec spec;
  int64_t in_ch, in_size, rows;
  float slope;
  bool maxout;
};

std::vector<Block> blocks_of(const std::string& net, const std::vector<ali::LayerSpec>& layers, int64_t ch,
                             int64_t size, int64_t rows, const ali::ArchSpec& a, bool maxout) {
  std::vector<Block> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    std::string desc = std::string(l.kind == ali::LayerKind::ConvT ? "convT" : "conv") + std::to_string(l.kernel) +
                       " s" + std::to_string(l.stride) + " " + std::to_string(ch) + "->" +
                       std::to_string(l.channels) + (l.batch_norm ? " BN" : "") + " @" + std::to_string(size);
    out.push_back({net, desc, l, ch, size, rows, a.slope, maxout});
    size = l.kind == ali::LayerKind::ConvT ? (size - 1) * l.stride + l.kernel : (size - l.kernel) / l.stride + 1;
    ch = maxout ? l.channels / 2 : l.channels;
  }
  return out;
}

struct Timing {
  double fwd_ms, bwd_ms;
};

Timing time_block(const Block& b, Variant v, int reps) {
  torch::manual_seed(1);
  const auto& l = b.spec;
  auto w = (l.kind == ali::LayerKind::ConvT ? torch::randn({b.in_ch, l.channels, l.kernel, l.kernel})
                                            : torch::randn({l.channels, b.in_ch, l.kernel, l.kernel})) *
           0.01;
  w.requires_grad_();
  auto gamma = torch::ones({l.channels}).requires_grad_(), beta = torch::zeros({l.channels}).requires_grad_();
  auto rm = torch::zeros({l.channels}), rv = torch::ones({l.channels});
  auto x = torch::randn({b.rows, b.in_ch, b.in_size, b.in_size}).requires_grad_();
  const bool keep_fp32 = v == Variant::ModelBf16 && l.kind == ali::LayerKind::Conv &&
                         ali::conv_keeps_fp32(b.in_size, l.kernel, l.stride);
  const auto precision =
      (v == Variant::OnednnBf16 || v == Variant::ModelBf16) && !keep_fp32 ? ali::Precision::BF16
                                                                           : ali::Precision::FP32;
  std::vector<double> fwd, bwd;
  for (int r = 0; r < reps + 1; ++r) {
    const double t0 = now_ms();
    torch::Tensor h;
    {
      ali::AutocastGuard guard(precision, torch::kCPU);
      if (l.kind == ali::LayerKind::Conv)
        h = torch::conv2d(x, w, {}, {l.stride, l.stride});
      else if (v == Variant::TorchFp32)
        h = torch::conv_transpose2d(x, w, {}, {l.stride, l.stride});
      else
        h = ali::conv_transpose2d_onednn(x, w, {}, l.stride);
      if (l.batch_norm) h = torch::batch_norm(h, gamma, beta, rm, rv, true, 0.05, 1e-5, false);
      if (b.maxout) {
        auto s = h.sizes().vec();
        s[1] /= 2;
        s.insert(s.begin() + 1, 2);
        h = std::get<0>(h.view(s).max(1));
      } else {
        h = torch::leaky_relu(h, b.slope);
      }
    }
    const double t1 = now_ms();
    auto grads = torch::autograd::grad({h.to(torch::kFloat).sum()}, {x, w});
    const double t2 = now_ms();
    if (r > 0) {  // the first is a warm-up (oneDNN primitive creation)
      fwd.push_back(t1 - t0);
      bwd.push_back(t2 - t1);
    }
  }
  return {median(fwd), median(bwd)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ALI per-layer profile"};
  std::string preset = "celeba64";
  int batch = 100, reps = 3;
  app.add_option("--preset", preset)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--reps", reps, "timed repetitions per layer and variant")->capture_default_str();
  app.add_flag("--cpu-time", g_cpu_time, "report process CPU time, not wall time (use with ALI_THREADS=1)");
  CLI11_PARSE(app, argc, argv);
  try {
    ali::configure_threads(0);
    const ali::ArchSpec& a = ali::arch_preset(preset);
    std::vector<Block> blocks;
    for (auto& b : blocks_of("encoder", a.encoder, a.image_channels, a.image_size, batch, a, false)) blocks.push_back(b);
    for (auto& b : blocks_of("decoder", a.decoder, a.nlat, 1, batch, a, false)) blocks.push_back(b);
    for (auto& b : blocks_of("D(x)", a.disc_x, a.image_channels, a.image_size, 2 * batch, a, a.maxout))
      blocks.push_back(b);
    for (auto& b : blocks_of("D(z)", a.disc_z, a.nlat, 1, 2 * batch, a, a.maxout)) blocks.push_back(b);
    int64_t cx = a.maxout ? a.disc_x.back().channels / 2 : a.disc_x.back().channels;
    int64_t cz = a.maxout ? a.disc_z.back().channels / 2 : a.disc_z.back().channels;
    for (auto& b : blocks_of("D joint", a.disc_joint, cx + cz, 1, 2 * batch, a, a.maxout)) blocks.push_back(b);

    std::printf("%s, batch %d, %d threads, median of %d; %s ms forward / backward (input + weight grads)\n",
                preset.c_str(), batch, at::get_num_threads(), reps, g_cpu_time ? "CPU" : "wall");
    std::printf("%-8s %-32s | %17s | %17s | %17s | %17s\n", "net", "block", "torch-fp32", "onednn-fp32",
                "onednn-bf16", "model-bf16");
    double tot[kVariants][2] = {};
    for (const auto& b : blocks) {
      Timing t[kVariants];
      for (int v = 0; v < kVariants; ++v) {
        t[v] = time_block(b, Variant(v), reps);
        tot[v][0] += t[v].fwd_ms;
        tot[v][1] += t[v].bwd_ms;
      }
      std::printf("%-8s %-32s | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f\n", b.net.c_str(),
                  b.desc.c_str(), t[0].fwd_ms, t[0].bwd_ms, t[1].fwd_ms, t[1].bwd_ms, t[2].fwd_ms, t[2].bwd_ms,
                  t[3].fwd_ms, t[3].bwd_ms);
      std::fflush(stdout);
    }
    std::printf("%-8s %-32s | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f\n", "total", "(all blocks)",
                tot[0][0], tot[0][1], tot[1][0], tot[1][1], tot[2][0], tot[2][1], tot[3][0], tot[3][1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_layers: %s\n", ali::describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
