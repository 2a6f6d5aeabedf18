// The latent map's layouts on a model's test codes: for each count of codes, the time of PCA and of
// t-SNE (median of --reps, wall and process CPU) and how well each keeps labelled groups together
// (the share of codes whose 5 nearest neighbours mostly share its label; the codes themselves give
// the ceiling). Figures only; asserts nothing.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/device.h"
#include "ali/error.h"
#include "ali/latent.h"
#include "ali/pca.h"
#include "ali/tsne.h"
#include "bench_util.h"

using namespace ali;

int main(int argc, char** argv) {
  CLI::App app{"bench_map: PCA and t-SNE layouts of a model's test codes"};
  std::string model = std::string(ALI_ASSETS_DIR) + "/fmnist28.ali", data = "fashion-mnist";
  std::vector<int64_t> counts{500, 1000, 2000, 4000};
  int reps = 3;
  app.add_option("--model", model, "checkpoint")->capture_default_str();
  app.add_option("--data", data, "labelled dataset (its test split)")->capture_default_str();
  app.add_option("--counts", counts, "numbers of codes")->capture_default_str();
  app.add_option("--reps", reps, "timed runs per layout (median)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    configure_threads(0);  // ALI_THREADS=1: the explorer's one intra-op thread
    auto m = load_model(model, torch::kCPU);
    auto set = load_dataset(data, "test", m->config.image_size, m->config.image_channels);
    if (!set.labels.defined()) throw Error(data + " has no labels to measure the layouts by");
    std::printf("%s on %s, %d threads\n", model.c_str(), data.c_str(), torch::get_num_threads());
    std::printf("| codes | agreement: codes | PCA | t-SNE | PCA ms | t-SNE ms (wall) | t-SNE cpu ms |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (int64_t n : counts) {
      n = std::min(n, set.size());
      auto codes = encode_images(*m, set, n);
      auto labels = set.labels.narrow(0, 0, n);
      std::vector<double> pca_ms, tsne_ms, tsne_cpu;
      torch::Tensor pca, layout;
      for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        pca = fit_pca(codes, 2).apply(codes);
        auto t1 = std::chrono::steady_clock::now();
        double c0 = bench::process_cpu_ms();
        layout = tsne(codes);
        double c1 = bench::process_cpu_ms();
        auto t2 = std::chrono::steady_clock::now();
        pca_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        tsne_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        tsne_cpu.push_back(c1 - c0);
      }
      std::printf("| %lld | %.3f | %.3f | %.3f | %.1f | %.0f | %.0f |\n", (long long)n,
                  neighbour_agreement(codes, labels), neighbour_agreement(pca, labels),
                  neighbour_agreement(layout, labels), bench::median(pca_ms), bench::median(tsne_ms),
                  bench::median(tsne_cpu));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_map: error: %s\n", describe_exception(e).c_str());
    return 1;
  }
}
