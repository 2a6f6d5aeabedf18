// Prints training throughput per preset (step ms and images/s at batch 100, for each precision) and
// single-image encode/decode latency, medians over repeated runs. A benchmark, not a test: it asserts
// nothing. `--dump-arch NAME` prints a preset as JSON for bench/pytorch_step.py (the eager peer).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "ali/device.h"
#include "ali/error.h"
#include "ali/trainer.h"
#include "bench_util.h"

using clock_type = std::chrono::steady_clock;

using ali::bench::median;
using ali::bench::process_cpu_ms;

static std::shared_ptr<const ali::ImageSet> synthetic(const ali::ModelConfig& c, int n) {
  ali::ImageSet s;
  s.name = "synthetic";
  s.images = torch::randint(0, 256, {n, c.image_channels, c.image_size, c.image_size}, torch::kUInt8);
  return std::make_shared<const ali::ImageSet>(std::move(s));
}

static void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

static nlohmann::json arch_json(const ali::ArchSpec& a) {
  auto layers = [](const std::vector<ali::LayerSpec>& v) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : v)
      out.push_back({l.kind == ali::LayerKind::ConvT ? "T" : "C", l.kernel, l.stride, l.channels, l.batch_norm});
    return out;
  };
  return {{"name", a.name},
          {"image_size", a.image_size},
          {"image_channels", a.image_channels},
          {"nlat", a.nlat},
          {"slope", a.slope},
          {"maxout", a.maxout},
          {"dropout_first", a.dropout_first},
          {"dropout_rest", a.dropout_rest},
          {"encoder", layers(a.encoder)},
          {"decoder", layers(a.decoder)},
          {"disc_x", layers(a.disc_x)},
          {"disc_z", layers(a.disc_z)},
          {"disc_joint", layers(a.disc_joint)}};
}

struct StepTime {
  double wall_ms, cpu_ms;
};

// Median wall and process-CPU ms of `steps` training steps (after 2 warm-up steps) at this precision.
// profile: when not empty, the timed steps are recorded by LibTorch's autograd profiler into this
// Chrome trace (bench/profile_ops.py sums it per operator).
static StepTime time_steps(const ali::ModelConfig& c, int batch, int steps, ali::Precision p,
                           const torch::Device& device, std::shared_ptr<ali::AliModel>* model_out,
                           const std::string& profile) {
  ali::TrainOptions o;
  o.batch = batch;
  o.precision = p;
  ali::Trainer t(c, o, device);
  t.set_data(synthetic(c, batch * 4));
  std::vector<double> step_ms, cpu_ms;
  std::unique_ptr<torch::autograd::profiler::RecordProfile> recording;
  for (int i = 0; i < steps + 2; ++i) {
    if (i == 2 && !profile.empty())
      recording = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    sync(device);
    auto t0 = clock_type::now();
    double c0 = process_cpu_ms();
    t.step();
    sync(device);
    double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    if (i >= 2) {
      step_ms.push_back(ms);
      cpu_ms.push_back(process_cpu_ms() - c0);
    }
  }
  recording.reset();  // writes the trace
  if (model_out) *model_out = t.model().clone_to(device);
  return {median(step_ms), median(cpu_ms)};
}

int main(int argc, char** argv) {
  CLI::App app{"ALI core benchmark"};
  std::vector<std::string> presets{"fmnist28", "svhn32", "cifar32", "celeba64"};
  std::vector<std::string> precisions{"fp32", "bf16"};
  int steps = 5, batch = 100, latency_reps = 30;
  std::string device_name = "cpu", dump_arch;
  app.add_option("--presets", presets)->capture_default_str();
  app.add_option("--precisions", precisions, "fp32, bf16 (each timed)")->capture_default_str();
  app.add_option("--steps", steps, "timed training steps per preset")->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--latency-reps", latency_reps)->capture_default_str();
  app.add_option("--device", device_name)->capture_default_str();
  app.add_option("--dump-arch", dump_arch, "print this preset as JSON and exit");
  std::string profile;
  app.add_option("--profile", profile,
                 "record the timed steps with the autograd profiler: PREFIX_PRESET_PRECISION.json "
                 "(Chrome traces; bench/profile_ops.py sums them per operator)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!dump_arch.empty()) {
      std::cout << arch_json(ali::arch_preset(dump_arch)).dump() << "\n";
      return 0;
    }
    ali::configure_threads(0);
    torch::Device device = ali::resolve_device(device_name);
    std::printf("device: %s, batch %d, %d timed steps (after 2 warm-up), median; bf16 native: %s\n",
                ali::device_description(device).c_str(), batch, steps,
                ali::bf16_native(device) ? "yes" : "no");
    std::printf("%-10s %10s %-6s %10s %10s %10s %12s %12s\n", "preset", "params", "prec", "step ms", "images/s",
                "cpu ms", "encode1 ms", "decode1 ms");
    for (const auto& name : presets) {
      ali::ModelConfig c;
      c.arch = name;
      c = c.resolved();
      for (const auto& pname : precisions) {
        std::shared_ptr<ali::AliModel> m;
        StepTime st = time_steps(c, batch, steps, ali::parse_precision(pname), device, &m,
                                 profile.empty() ? "" : profile + "_" + name + "_" + pname + ".json");
        const double ms = st.wall_ms;
        auto x = torch::rand({1, c.image_channels, c.image_size, c.image_size});
        auto z = torch::randn({1, c.nlat});
        std::vector<double> enc_ms, dec_ms;
        for (int i = 0; i < latency_reps + 3; ++i) {
          auto t0 = clock_type::now();
          ali::encode_mu(*m, x);
          auto t1 = clock_type::now();
          ali::decode(*m, z);
          auto t2 = clock_type::now();
          if (i >= 3) {
            enc_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            dec_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
          }
        }
        std::printf("%-10s %10lld %-6s %10.1f %10.1f %10.1f %12.2f %12.2f\n", name.c_str(),
                    (long long)m->parameter_count(), pname.c_str(), ms, batch * 1000.0 / ms, st.cpu_ms,
                    median(enc_ms), median(dec_ms));
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_core: " << ali::describe_exception(e) << "\n";
    return 1;
  }
  return 0;
}
