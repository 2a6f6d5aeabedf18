#include "test_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "ali/error.h"

namespace fs = std::filesystem;

namespace ali::test {

TempDir::TempDir() {
  static int counter = 0;
  path_ = fs::temp_directory_path() /
          ("ali-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::shared_ptr<const ImageSet> synthetic_set(int n, int channels, int size, int classes,
                                              uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  ImageSet s;
  s.name = "synthetic";
  s.images = torch::randint(0, 256, {n, channels, size, size}, gen, torch::kUInt8);
  s.labels = torch::randint(0, classes, {n}, gen, torch::kLong);
  for (int i = 0; i < classes; ++i) s.class_names.push_back("class" + std::to_string(i));
  return std::make_shared<const ImageSet>(std::move(s));
}

std::unique_ptr<Trainer> small_trainer(int n) {
  ModelConfig c;
  c.arch = "fmnist28";
  TrainOptions o;
  o.batch = 8;
  auto t = std::make_unique<Trainer>(c, o, torch::kCPU);
  t->set_data(synthetic_set(n, 1, 28));
  return t;
}

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  for (const auto& p : params)
    g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

void clear_grads(const std::vector<torch::Tensor>& params) {
  for (auto p : params) p.mutable_grad() = torch::Tensor();
}

bool all_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::allclose(a[i], b[i], 1e-4, 1e-7)) return false;
  return true;
}

void expect_routed(const std::vector<torch::Tensor>& d_params,
                   const std::vector<torch::Tensor>& g_params,
                   const std::vector<torch::Tensor>& got_d, const std::vector<torch::Tensor>& got_g,
                   const torch::Tensor& d_loss, const torch::Tensor& g_loss) {
  clear_grads(d_params);
  clear_grads(g_params);
  d_loss.backward({}, /*retain_graph=*/true);
  auto ld_d = grads_of(d_params), ld_g = grads_of(g_params);
  clear_grads(d_params);
  clear_grads(g_params);
  g_loss.backward();
  auto lg_d = grads_of(d_params), lg_g = grads_of(g_params);
  EXPECT_TRUE(all_close(got_d, ld_d));   // D: from L_D ...
  EXPECT_FALSE(all_close(got_d, lg_d));  // ... not from L_G(E)
  EXPECT_TRUE(all_close(got_g, lg_g));   // E and G: from L_G(E) ...
  EXPECT_FALSE(all_close(got_g, ld_g));  // ... not from L_D
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return describe_exception(e);
  }
  return "(no error)";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace ali::test
