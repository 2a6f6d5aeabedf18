// Prints training throughput per preset (images/s at batch 100) and single-image encode/decode
// latency, medians over repeated runs. A benchmark, not a test: it asserts nothing.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "ali/device.h"
#include "ali/error.h"
#include "ali/trainer.h"

using clock_type = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

static std::shared_ptr<const ali::ImageSet> synthetic(const ali::ModelConfig& c, int n) {
  ali::ImageSet s;
  s.name = "synthetic";
  s.images = torch::randint(0, 256, {n, c.image_channels, c.image_size, c.image_size}, torch::kUInt8);
  return std::make_shared<const ali::ImageSet>(std::move(s));
}

static void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

int main(int argc, char** argv) {
  CLI::App app{"ALI core benchmark"};
  std::vector<std::string> presets{"fmnist28", "svhn32", "cifar32", "celeba64"};
  int steps = 5, batch = 100, latency_reps = 30;
  std::string device_name = "cpu";
  app.add_option("--presets", presets)->capture_default_str();
  app.add_option("--steps", steps, "timed training steps per preset")->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--latency-reps", latency_reps)->capture_default_str();
  app.add_option("--device", device_name)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    ali::configure_threads(0);
    torch::Device device = ali::resolve_device(device_name);
    std::printf("device: %s, batch %d, %d timed steps (after 2 warm-up), median\n",
                ali::device_description(device).c_str(), batch, steps);
    std::printf("%-10s %10s %12s %12s %14s %14s\n", "preset", "params", "step ms", "images/s",
                "encode1 ms", "decode1 ms");
    for (const auto& name : presets) {
      ali::ModelConfig c;
      c.arch = name;
      c = c.resolved();
      ali::TrainOptions o;
      o.batch = batch;
      ali::Trainer t(c, o, device);
      t.set_data(synthetic(c, batch * 4));
      std::vector<double> step_ms;
      for (int i = 0; i < steps + 2; ++i) {
        sync(device);
        auto t0 = clock_type::now();
        t.step();
        sync(device);
        double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        if (i >= 2) step_ms.push_back(ms);
      }
      auto m = t.model().clone_to(device);
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
      double ms = median(step_ms);
      std::printf("%-10s %10lld %12.1f %12.1f %14.2f %14.2f\n", name.c_str(),
                  (long long)m->parameter_count(), ms, batch * 1000.0 / ms, median(enc_ms),
                  median(dec_ms));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_core: " << ali::describe_exception(e) << "\n";
    return 1;
  }
  return 0;
}
