#include "ali/data.h"

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <future>

#include "ali/celeba.h"
#include "ali/error.h"
#include "ali/file_io.h"
#include "ali/image_io.h"

namespace fs = std::filesystem;

namespace ali {

torch::Tensor ImageSet::float_images(const torch::Tensor& index) const {
  return images.index_select(0, index).to(torch::kFloat).div_(255.0);
}

ImageSet with_class_attributes(ImageSet set) {
  if (!set.labels.defined() || set.class_names.empty())
    throw Error("dataset " + set.name + " has no class labels to condition on");
  set.attributes = torch::one_hot(set.labels, int64_t(set.class_names.size())).to(torch::kFloat);
  set.attribute_names = set.class_names;
  return set;
}

ImageSet with_condition_attributes(ImageSet set) {
  if (set.attributes.defined() && !set.attribute_names.empty()) return set;
  return with_class_attributes(std::move(set));
}

fs::path default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
  return names;
}

namespace {
constexpr size_t kMaxIdxBytes = size_t(1) << 30;  // the data, after decompression

// gunzip in memory, refusing more than kMaxIdxBytes of output (a small .gz can inflate to
// anything).
std::string gunzip(const std::string& in, const std::string& name) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw Error("cannot decompress " + name);
  std::string out;
  char buf[1 << 16];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = uInt(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string why = rc == Z_BUF_ERROR ? "truncated" : (zs.msg ? zs.msg : "bad data");
      inflateEnd(&zs);
      throw Error(name + " is corrupt (" + why + ")");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > kMaxIdxBytes) {
      inflateEnd(&zs);
      throw Error(name + " is too large (more than " + std::to_string(kMaxIdxBytes >> 20) +
                  " MiB uncompressed)");
    }
  }
  inflateEnd(&zs);
  return out;
}
}  // namespace

torch::Tensor read_idx(const fs::path& path) {
  const std::string name = path.string();
  std::string raw = read_regular_file(path, kMaxIdxBytes, "IDX file");
  const bool gz = raw.size() >= 2 && uint8_t(raw[0]) == 0x1f && uint8_t(raw[1]) == 0x8b;
  const std::string bytes = gz ? gunzip(raw, name) : std::move(raw);
  auto u8 = [&](size_t i) { return uint8_t(bytes[i]); };
  if (bytes.size() < 4 || u8(0) != 0 || u8(1) != 0)
    throw Error(name + " is not an IDX file (bad magic number)");
  if (u8(2) != 0x08) throw Error(name + ": only unsigned-byte IDX data is supported");
  int ndim = u8(3);
  if (ndim < 1 || ndim > 4) throw Error(name + ": bad IDX dimension count");
  size_t header = 4 + 4 * size_t(ndim);
  if (bytes.size() < header) throw Error(name + " is truncated (in its header)");
  std::vector<int64_t> dims;
  std::string shown;
  size_t expect = 1, bound = 1;
  bool too_big = false;
  for (int d = 0; d < ndim; ++d) {
    size_t at = 4 + 4 * size_t(d);
    int64_t v = (int64_t(u8(at)) << 24) | (u8(at + 1) << 16) | (u8(at + 2) << 8) | u8(at + 3);
    dims.push_back(v);
    shown += (d ? " x " : "") + std::to_string(v);
    // Bounded with zero dimensions counted as ones: four 32-bit sizes overflow 64 bits (a wrapped
    // product would pass the length check), and an empty tensor whose other dimensions are huge
    // overflows LibTorch's strides (a segfault, found by libFuzzer).
    size_t f = size_t(std::max<int64_t>(v, 1));
    if (bound > kMaxIdxBytes / f) too_big = true;
    bound *= f;
    expect *= size_t(v);
  }
  if (too_big)
    throw Error(name + ": its header's dimensions (" + shown + ") are too large (more than " +
                std::to_string(kMaxIdxBytes >> 30) + " GiB of data)");
  if (bytes.size() - header < expect)
    throw Error(name + " is truncated: its header promises " + std::to_string(expect) +
                " bytes of data, the file has " + std::to_string(bytes.size() - header));
  return torch::from_blob(const_cast<char*>(bytes.data()) + header, dims, torch::kUInt8).clone();
}

namespace {
fs::path find_idx(const fs::path& dir, const std::string& prefix, const std::string& kind) {
  for (const std::string& name : {prefix + "-" + kind + "-ubyte", prefix + "-" + kind + ".ubyte",
                                  prefix + "-" + kind.substr(0, kind.find('-')) + "." +
                                      kind.substr(kind.find('-') + 1) + "-ubyte"})
    for (const char* ext : {".gz", ""}) {
      fs::path p = dir / (name + ext);
      if (fs::exists(p)) return p;
    }
  throw Error("no " + prefix + "-" + kind + "-ubyte[.gz] in " + dir.string());
}
}  // namespace

ImageSet load_mnist_folder(const fs::path& dir, const std::string& split) {
  if (!fs::is_directory(dir)) throw Error("dataset folder " + dir.string() + " does not exist");
  if (split != "train" && split != "test")
    throw Error("split must be 'train' or 'test', not '" + split + "'");
  std::string prefix = split == "train" ? "train" : "t10k";
  auto images = read_idx(find_idx(dir, prefix, "images-idx3"));
  auto labels = read_idx(find_idx(dir, prefix, "labels-idx1"));
  if (images.dim() != 3) throw Error("image IDX file must be N x H x W");
  if (labels.dim() != 1 || labels.size(0) != images.size(0))
    throw Error("label count does not match image count in " + dir.string());
  if (images.size(0) == 0) throw Error("the " + split + " IDX file in " + dir.string() + " holds no images");
  if (images.size(1) == 0 || images.size(2) == 0)
    throw Error("the " + split + " IDX file in " + dir.string() + " holds images of " +
                std::to_string(images.size(1)) + " x " + std::to_string(images.size(2)) + " pixels");
  ImageSet s;
  s.name = dir.filename().string();
  s.images = images.unsqueeze(1).contiguous();
  s.labels = labels.to(torch::kLong);
  // Labels are bytes (at most 256 classes). The other split's count too, so that both name the same
  // classes when one lacks the last.
  int64_t classes = s.labels.max().item<int64_t>() + 1;
  try {
    auto other = read_idx(find_idx(dir, split == "train" ? "t10k" : "train", "labels-idx1"));
    if (other.numel() > 0) classes = std::max(classes, other.max().item<int64_t>() + 1);
  } catch (const Error&) {
    // a folder with one split: its own labels
  }
  std::string lower = dir.string();
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower.find("fashion") != std::string::npos) {
    s.class_names = fashion_mnist_class_names();
    s.name = "fashion-mnist";
    if (classes > int64_t(s.class_names.size()))
      throw Error("the " + split + " labels in " + dir.string() + " go up to " + std::to_string(classes - 1) +
                  ": Fashion-MNIST's are 0 to 9");
  } else {
    // Digits 0-9, or as many classes as the labels name (EMNIST's letters, say).
    for (int64_t i = 0; i < std::max<int64_t>(10, classes); ++i) s.class_names.push_back(std::to_string(i));
  }
  return s;
}

ImageSet load_image_folder(const fs::path& dir, int size, int channels) {
  if (!fs::is_directory(dir)) throw Error("image folder " + dir.string() + " does not exist");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && has_image_extension(e.path())) files.push_back(e.path());
  if (files.empty()) throw Error("no images (PNG, JPEG, ...) found in " + dir.string());
  std::sort(files.begin(), files.end());

  // Images in class subfolders (dir/cls/img.png for every file) are labelled by folder.
  std::vector<std::string> classes;
  bool by_folder = true;
  for (const auto& f : files) {
    if (f.parent_path().parent_path() != dir) {
      by_folder = false;
      break;
    }
    classes.push_back(f.parent_path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (classes.size() < 2) by_folder = false;

  auto images = torch::empty({int64_t(files.size()), channels, size, size}, torch::kUInt8);
  unsigned workers = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::vector<std::future<void>> jobs;
  for (unsigned w = 0; w < workers; ++w)
    jobs.push_back(std::async(std::launch::async, [&, w] {
      for (size_t i = w; i < files.size(); i += workers)
        images[int64_t(i)].copy_(conform_image(decode_image_file(files[i]), size, channels));
    }));
  for (auto& j : jobs) j.get();  // rethrows the first decoding error, naming the file

  ImageSet s;
  s.name = dir.filename().string();
  s.images = images;
  if (by_folder) {
    s.class_names = classes;
    std::vector<int64_t> labels;
    for (const auto& f : files)
      labels.push_back(std::lower_bound(classes.begin(), classes.end(),
                                        f.parent_path().filename().string()) -
                       classes.begin());
    s.labels = torch::tensor(labels, torch::kLong);
  }
  return s;
}

ImageSet conform(ImageSet set, int size, int channels) {
  if (set.image_size() == size && set.channels() == channels) return set;
  torch::NoGradGuard ng;
  auto x = set.images.to(torch::kFloat);
  if (set.image_size() != size)
    x = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{size, size})
               .mode(torch::kBilinear)
               .align_corners(false));
  if (x.size(1) == 1 && channels == 3) x = x.expand({-1, 3, -1, -1});
  if (x.size(1) == 3 && channels == 1)
    x = (x.select(1, 0) * 0.299 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114).unsqueeze(1);
  set.images = x.round().clamp(0, 255).to(torch::kUInt8).contiguous();
  return set;
}

ImageSet load_dataset(const std::string& spec, const std::string& split, int size, int channels) {
  ImageSet s;
  if (spec == "fashion-mnist" || spec == "fmnist" || spec == "fashion_mnist") {
    fs::path dir = default_fashion_mnist_dir();
    if (!fs::is_directory(dir))
      throw Error("Fashion-MNIST is not installed: " + dir.string() +
                  " is missing (apt-get install dataset-fashion-mnist)");
    s = load_mnist_folder(dir, split);
  } else {
    fs::path dir = spec;
    if (!fs::is_directory(dir)) throw Error("dataset folder " + spec + " does not exist");
    if (is_celeba_folder(dir)) {  // CelebA layout: preprocessed straight to `size` via its cache
      CelebaOptions celeba;
      celeba.size = size;
      return conform(load_celeba(dir, split, celeba), size, channels);
    }
    bool idx = false;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().find("idx3") != std::string::npos) idx = true;
    s = idx ? load_mnist_folder(dir, split) : load_image_folder(dir, size, channels);
  }
  return conform(std::move(s), size, channels);
}

torch::Tensor epoch_permutation(int64_t set_size, uint64_t seed, int64_t epoch) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch));
  return torch::randperm(set_size, gen, torch::kLong);
}

torch::Tensor batch_indices(int64_t set_size, int batch, uint64_t seed, int64_t step, int rank,
                            int world_size) {
  if (batch <= 0) throw Error("batch size must be positive");
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw Error("rank " + std::to_string(rank) + " is not in a world of " + std::to_string(world_size));
  const int64_t global = int64_t(batch) * world_size;
  if (set_size < global)
    throw Error("the dataset has " + std::to_string(set_size) + " images, fewer than one batch of " +
                std::to_string(global) +
                (world_size > 1 ? " (" + std::to_string(batch) + " per process x " +
                                      std::to_string(world_size) + " processes)"
                                : std::string()));
  int64_t per_epoch = set_size / global;
  return epoch_permutation(set_size, seed, step / per_epoch)
      .narrow(0, (step % per_epoch) * global + int64_t(rank) * batch, batch);
}

BatchLoader::BatchLoader(std::shared_ptr<const ImageSet> set, int batch, uint64_t seed,
                         int64_t first_step, torch::Device device, int prefetch, int rank,
                         int world_size)
    : set_(std::move(set)),
      batch_(batch),
      rank_(rank),
      world_(world_size),
      seed_(seed),
      device_(device),
      prefetch_(size_t(std::max(1, prefetch))),
      next_produce_(first_step) {
  // validates sizes before the worker starts
  batch_indices(set_->size(), batch_, seed_, 0, rank_, world_);
  worker_ = StopThread([this](StopToken st) { work(st); });
}

BatchLoader::~BatchLoader() {
  worker_.stop_and_wake(mu_, cv_);
}

int64_t BatchLoader::batches_per_epoch() const { return set_->size() / (int64_t(batch_) * world_); }

void BatchLoader::work(StopToken st) {
  int64_t cached_epoch = -1;
  torch::Tensor perm;
  try {
    while (!st.stop_requested()) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return st.stop_requested() || queue_.size() < prefetch_; });
        if (st.stop_requested()) return;
      }
      int64_t step = next_produce_++;
      int64_t per_epoch = batches_per_epoch(), epoch = step / per_epoch;
      if (epoch != cached_epoch) {
        perm = epoch_permutation(set_->size(), seed_, epoch);
        cached_epoch = epoch;
      }
      Batch b;
      b.step = step;
      b.index = perm.narrow(0, (step % per_epoch) * batch_ * world_ + int64_t(rank_) * batch_, batch_);
      b.x = set_->float_images(b.index);
      if (set_->labels.defined()) b.labels = set_->labels.index_select(0, b.index);
      if (set_->attributes.defined()) b.y = set_->attributes.index_select(0, b.index);
      if (!device_.is_cpu()) {
        b.x = b.x.pin_memory().to(device_, /*non_blocking=*/true);
        if (b.y.defined()) b.y = b.y.pin_memory().to(device_, /*non_blocking=*/true);
      }
      {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(b));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

Batch BatchLoader::next() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  cv_.notify_all();
  return b;
}

fs::path user_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ali-explorer";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "ali-explorer";
  return fs::temp_directory_path() / "ali-explorer-cache";
}

}  // namespace ali
