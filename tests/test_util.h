// Helpers shared by the test suites: temporary folders and small synthetic data.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "ali/data.h"
#include "ali/trainer.h"

namespace ali::test {

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// n random uint8 images (C x size x size) with labels in [0, classes).
std::shared_ptr<const ImageSet> synthetic_set(int n, int channels, int size, int classes = 10,
                                              uint64_t seed = 1);
// An fmnist28 trainer at batch 8 on `n` random images (CPU): the quickest real training step.
std::unique_ptr<Trainer> small_trainer(int n = 32);

// Copies of each parameter's .grad (zeros where undefined); clearing them; comparing two such
// lists.
std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params);
void clear_grads(const std::vector<torch::Tensor>& params);
bool all_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);
// Gradient routing: got_d (D's gradients from an objective) must be d_loss's alone and got_g (E's
// and G's) g_loss's alone; the losses' graphs (one forward pass with the same noise) are consumed.
void expect_routed(const std::vector<torch::Tensor>& d_params,
                   const std::vector<torch::Tensor>& g_params,
                   const std::vector<torch::Tensor>& got_d, const std::vector<torch::Tensor>& got_g,
                   const torch::Tensor& d_loss, const torch::Tensor& g_loss);

// The message f throws (LibTorch backtraces stripped), or "(no error)".
std::string error_of(const std::function<void()>& f);
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& bytes);

}  // namespace ali::test
