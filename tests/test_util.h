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

// The message f throws (LibTorch backtraces stripped), or "(no error)".
std::string error_of(const std::function<void()>& f);
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& bytes);

}  // namespace ali::test
