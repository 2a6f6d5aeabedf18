#include "test_util.h"

#include <ATen/CPUGeneratorImpl.h>
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
