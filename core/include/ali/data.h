// Datasets in memory (uint8 images), their readers, and a prefetching batch loader whose batches are
// a pure function of (seed, step), so a resumed run sees the same batches as an uninterrupted one.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "ali/stop_thread.h"

namespace ali {

struct ImageSet {
  std::string name;
  torch::Tensor images;  // uint8 N x C x H x W
  torch::Tensor labels;  // int64 N, or undefined when unlabelled
  std::vector<std::string> class_names;
  torch::Tensor attributes;  // float N x K in {0,1}, or undefined (conditional training)
  std::vector<std::string> attribute_names;
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int channels() const { return int(images.size(1)); }
  int image_size() const { return int(images.size(2)); }
  // Float N x C x H x W in [0,1] of the given rows.
  torch::Tensor float_images(const torch::Tensor& index) const;
};

// Class labels as one-hot attributes named after the classes (class-conditional training).
ImageSet with_class_attributes(ImageSet set);
// What a conditional model trains on: the dataset's own attributes (CelebA layout) when it has them,
// else its class labels as one-hot attributes. Throws when it has neither.
ImageSet with_condition_attributes(ImageSet set);

// The folder of the Debian package dataset-fashion-mnist.
std::filesystem::path default_fashion_mnist_dir();
const std::vector<std::string>& fashion_mnist_class_names();

// IDX files (images idx3 uint8, labels idx1 uint8), gzip-compressed or plain; sniffed by content.
torch::Tensor read_idx(const std::filesystem::path& path);
// A folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. split: "train" or "test".
ImageSet load_mnist_folder(const std::filesystem::path& dir, const std::string& split);
// Every PNG/JPEG/... under `dir` (recursively, sorted), brought to size x size x channels.
// Unreadable files throw, naming the file.
ImageSet load_image_folder(const std::filesystem::path& dir, int size, int channels);

// A dataset by name or path: "fashion-mnist" (or "fmnist"), an IDX folder, or an image folder;
// resized and channel-converted to what the model takes.
ImageSet load_dataset(const std::string& spec, const std::string& split, int size, int channels);

// The user's cache folder for derived data (CelebA packs, evaluation classifiers):
// $XDG_CACHE_HOME/ali-explorer, else ~/.cache/ali-explorer, else one under the temp folder.
std::filesystem::path user_cache_dir();

// Same shape as a preset needs: resize (bilinear) and convert channels.
ImageSet conform(ImageSet set, int size, int channels);

struct Batch {
  int64_t step = 0;
  torch::Tensor x;       // float B x C x H x W on the loader's device
  torch::Tensor labels;  // int64 B (CPU) or undefined
  torch::Tensor y;       // float B x K attributes on the loader's device, or undefined
  torch::Tensor index;   // int64 B: rows of the set
};

// Rows of the set for training step `step`: epoch e = step / batches_per_epoch uses a permutation
// drawn from (seed, e); batches are consecutive slices; the last partial batch is dropped.
// Data-parallel: the global batch of step s is batch x world_size rows and rank r takes its r-th
// slice, so the union over ranks depends on (seed, step, world) only; world 1 is the plain stream.
torch::Tensor epoch_permutation(int64_t set_size, uint64_t seed, int64_t epoch);
torch::Tensor batch_indices(int64_t set_size, int batch, uint64_t seed, int64_t step, int rank = 0,
                            int world_size = 1);

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const ImageSet> set, int batch, uint64_t seed, int64_t first_step,
              torch::Device device, int prefetch = 3, int rank = 0, int world_size = 1);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  Batch next();  // blocks only if the worker is behind
  int64_t batches_per_epoch() const;

 private:
  void work(StopToken st);
  std::shared_ptr<const ImageSet> set_;
  int batch_;
  int rank_, world_;
  uint64_t seed_;
  torch::Device device_;
  size_t prefetch_;
  int64_t next_produce_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  StopThread worker_;
};

}  // namespace ali
