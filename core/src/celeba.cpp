#include "ali/celeba.h"

#include <fcntl.h>
#include <stb_image_resize.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "ali/error.h"
#include "ali/file_io.h"
#include "ali/image_io.h"

namespace fs = std::filesystem;

namespace ali {

const std::vector<std::string>& celeba_attribute_names() {
  static const std::vector<std::string> names = {
      "5_o_Clock_Shadow", "Arched_Eyebrows",   "Attractive",        "Bags_Under_Eyes",
      "Bald",             "Bangs",             "Big_Lips",          "Big_Nose",
      "Black_Hair",       "Blond_Hair",        "Blurry",            "Brown_Hair",
      "Bushy_Eyebrows",   "Chubby",            "Double_Chin",       "Eyeglasses",
      "Goatee",           "Gray_Hair",         "Heavy_Makeup",      "High_Cheekbones",
      "Male",             "Mouth_Slightly_Open", "Mustache",        "Narrow_Eyes",
      "No_Beard",         "Oval_Face",         "Pale_Skin",         "Pointy_Nose",
      "Receding_Hairline", "Rosy_Cheeks",      "Sideburns",         "Smiling",
      "Straight_Hair",    "Wavy_Hair",         "Wearing_Earrings",  "Wearing_Hat",
      "Wearing_Lipstick", "Wearing_Necklace",  "Wearing_Necktie",   "Young"};
  return names;
}

std::string to_string(CelebaCrop crop) {
  switch (crop) {
    case CelebaCrop::Ali: return "ali";
    case CelebaCrop::Center108: return "crop108";
    case CelebaCrop::Center140: return "crop140";
  }
  return "ali";
}

CelebaCrop parse_celeba_crop(const std::string& name) {
  if (name == "ali" || name == "resize") return CelebaCrop::Ali;
  if (name == "crop108" || name == "108") return CelebaCrop::Center108;
  if (name == "crop140" || name == "140") return CelebaCrop::Center140;
  throw Error("unknown CelebA crop '" + name + "' (use ali, crop108 or crop140)");
}

bool is_celeba_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "list_attr_celeba.txt", ec);
}

fs::path celeba_cache_path(const fs::path& dir, const CelebaOptions& o) {
  std::string name = ".ali-cache-celeba-" + std::to_string(o.size) + "-" + to_string(o.crop) + ".u8";
  return (o.cache_dir.empty() ? dir : o.cache_dir) / name;
}

// ---------------------------------------------------------------------------------------------
// The text files.

namespace {

const char* kAttrFile = "list_attr_celeba.txt";
const char* kPartitionFile = "list_eval_partition.txt";

// The real list_attr_celeba.txt is 26 MB.
std::string slurp(const fs::path& p) {
  return read_regular_file(p, size_t(512) << 20, "CelebA list");
}

// Calls f(line_number, fields) for every line; fields split on spaces, tabs and stray CRs.
template <class F>
void for_each_line(const std::string& text, F&& f) {
  size_t pos = 0;
  int line = 0;
  std::vector<std::string_view> fields;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    fields.clear();
    size_t i = pos;
    while (i < end) {
      while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
      size_t s = i;
      while (i < end && text[i] != ' ' && text[i] != '\t' && text[i] != '\r') ++i;
      if (i > s) fields.emplace_back(text.data() + s, i - s);
    }
    f(line, fields);
    pos = end + 1;
  }
}

[[noreturn]] void refuse(const fs::path& file, int line, const std::string& what) {
  throw Error(file.string() + ":" + std::to_string(line) + ": " + what);
}

std::string quoted(std::string_view s) {
  std::string q = "'";
  q.append(s.substr(0, 40));
  if (s.size() > 40) q += "...";
  return q + "'";
}

}  // namespace

CelebaIndex read_celeba_index(const fs::path& dir) {
  CelebaIndex ix;
  const fs::path attr_path = dir / kAttrFile;
  if (!fs::is_regular_file(attr_path))
    throw Error("not a CelebA folder: " + attr_path.string() + " is missing");
  std::string text = slurp(attr_path);
  long long declared = -1;
  int last_line = 0;
  std::unordered_map<std::string, int> row_of;
  size_t k = 0;
  for_each_line(text, [&](int line, const std::vector<std::string_view>& f) {
    last_line = line;
    if (line == 1) {
      if (f.size() != 1)
        refuse(attr_path, line, "expected the image count alone, found " +
                                    std::to_string(f.size()) + " fields");
      std::string s(f[0]);
      char* end = nullptr;
      declared = std::strtoll(s.c_str(), &end, 10);
      if (*end != '\0' || declared < 0)
        refuse(attr_path, line, "expected the image count, found " + quoted(f[0]));
      return;
    }
    if (line == 2) {
      if (f.empty()) refuse(attr_path, line, "expected the attribute names, found an empty line");
      for (auto name : f) {
        std::string n(name);
        if (std::find(ix.attribute_names.begin(), ix.attribute_names.end(), n) !=
            ix.attribute_names.end())
          refuse(attr_path, line, "attribute " + quoted(name) + " is named twice");
        ix.attribute_names.push_back(n);
      }
      k = ix.attribute_names.size();
      return;
    }
    if (f.empty()) return;  // blank lines (a trailing newline, an empty last line) carry nothing
    if (f.size() != k + 1)
      refuse(attr_path, line,
             "expected " + std::to_string(k + 1) + " fields (an image name and " +
                 std::to_string(k) + " attributes), found " + std::to_string(f.size()));
    std::string name(f[0]);
    auto [it, fresh] = row_of.emplace(name, int(ix.images.size()));
    if (!fresh)
      refuse(attr_path, line,
             name + " is listed twice (first on line " +
                 std::to_string(ix.attribute_lines[size_t(it->second)]) + ")");
    for (size_t j = 1; j <= k; ++j) {
      if (f[j] == "1") {
        ix.attributes.push_back(1);
      } else if (f[j] == "-1") {
        ix.attributes.push_back(0);
      } else {
        refuse(attr_path, line,
               "attribute " + ix.attribute_names[j - 1] + " of " + name + " is " + quoted(f[j]) +
                   ", expected -1 or 1");
      }
    }
    ix.images.push_back(std::move(name));
    ix.attribute_lines.push_back(line);
  });
  if (last_line < 1) refuse(attr_path, 1, "the file is empty (expected the image count)");
  if (last_line < 2) refuse(attr_path, 2, "missing the line of attribute names");
  if (declared != (long long)ix.images.size())
    refuse(attr_path, 1,
           "says " + std::to_string(declared) + " images but the file lists " +
               std::to_string(ix.images.size()));

  const fs::path part_path = dir / kPartitionFile;
  if (!fs::exists(part_path)) return ix;
  ix.partition.assign(ix.images.size(), -1);
  std::vector<int> part_line(ix.images.size(), 0);
  text = slurp(part_path);
  for_each_line(text, [&](int line, const std::vector<std::string_view>& f) {
    if (f.empty()) return;
    if (f.size() != 2)
      refuse(part_path, line,
             "expected 2 fields (an image name and 0, 1 or 2), found " + std::to_string(f.size()));
    auto it = row_of.find(std::string(f[0]));
    if (it == row_of.end())
      refuse(part_path, line, std::string(f[0]) + " is not listed in " + kAttrFile);
    int8_t v = f[1] == "0" ? 0 : f[1] == "1" ? 1 : f[1] == "2" ? 2 : -1;
    if (v < 0)
      refuse(part_path, line,
             "partition " + quoted(f[1]) + " of " + std::string(f[0]) +
                 " is not 0 (train), 1 (valid) or 2 (test)");
    size_t r = size_t(it->second);
    if (part_line[r] != 0)
      refuse(part_path, line,
             std::string(f[0]) + " is listed twice (first on line " + std::to_string(part_line[r]) +
                 ")");
    ix.partition[r] = v;
    part_line[r] = line;
  });
  for (size_t r = 0; r < ix.images.size(); ++r)
    if (ix.partition[r] < 0)
      throw Error(part_path.string() + ": " + ix.images[r] + " (" + kAttrFile + " line " +
                  std::to_string(ix.attribute_lines[r]) + ") has no partition");
  return ix;
}

// ---------------------------------------------------------------------------------------------
// Decoding and preprocessing.

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The square of the original image that becomes the output, in original pixels.
struct Region {
  double x0, y0, side;
};

Region crop_region(int w, int h, CelebaCrop crop) {
  // Ali: Resize(shorter side) + CenterCrop is exactly the centred square of the shorter side
  // (computed without the intermediate rounding to 64 x 78).
  double side = std::min(w, h);
  if (crop == CelebaCrop::Center108) side = std::min(side, 108.0);
  if (crop == CelebaCrop::Center140) side = std::min(side, 140.0);
  return {(w - side) / 2.0, (h - side) / 2.0, side};
}

// libjpeg-turbo decodes at a fraction of the size in the IDCT (much faster than decoding in full
// and resampling): take the smallest factor that still leaves at least `size` pixels in the crop.
tjscalingfactor pick_scale(double side, int size) {
  int n = 0;
  tjscalingfactor* f = tjGetScalingFactors(&n);
  tjscalingfactor best{1, 1};
  double best_v = 1.0;
  for (int i = 0; f && i < n; ++i) {
    double v = double(f[i].num) / f[i].denom;
    if (v <= 1.0 && v < best_v && side * v >= size) {
      best = f[i];
      best_v = v;
    }
  }
  return best;
}

// HWC RGB pixels (w x h) of an image whose original size is ow x oh -> CHW size x size.
void preprocess(const uint8_t* hwc, int w, int h, int ow, int oh, CelebaCrop crop, int size,
                uint8_t* chw, std::vector<uint8_t>& tmp) {
  Region r = crop_region(ow, oh, crop);
  tmp.resize(size_t(size) * size * 3);
  float s0 = float(r.x0 / ow), t0 = float(r.y0 / oh);
  float s1 = float((r.x0 + r.side) / ow), t1 = float((r.y0 + r.side) / oh);
  if (!stbir_resize_region(hwc, w, h, w * 3, tmp.data(), size, size, size * 3, STBIR_TYPE_UINT8, 3,
                           STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_EDGE_CLAMP,
                           STBIR_FILTER_DEFAULT, STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR,
                           nullptr, s0, t0, s1, t1))
    throw Error("image resize failed");
  const size_t plane = size_t(size) * size;
  for (size_t p = 0; p < plane; ++p) {
    chw[p] = tmp[3 * p];
    chw[plane + p] = tmp[3 * p + 1];
    chw[2 * plane + p] = tmp[3 * p + 2];
  }
}

struct TjHandle {
  tjhandle h = tjInitDecompress();
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

bool read_bytes(const fs::path& p, std::vector<uint8_t>& buf) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t(256) << 20)) {
    ::close(fd);
    return false;
  }
  buf.resize(size_t(st.st_size));
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n <= 0) break;
    got += size_t(n);
  }
  ::close(fd);
  buf.resize(got);
  return true;
}

// One image file -> CHW size x size at `out`.
void decode_one(TjHandle& tj, const fs::path& file, const std::string& where, CelebaCrop crop,
                int size, uint8_t* out, std::vector<uint8_t>& bytes, std::vector<uint8_t>& pixels,
                std::vector<uint8_t>& tmp) {
  if (!read_bytes(file, bytes))
    throw Error("CelebA image " + file.string() + " is missing or not a regular file (" + where +
                ")");
  int w = 0, h = 0, sub = 0, cs = 0;
  if (tj.h && tjDecompressHeader3(tj.h, bytes.data(), (unsigned long)bytes.size(), &w, &h, &sub,
                                  &cs) == 0) {
    Region r = crop_region(w, h, crop);
    tjscalingfactor sf = pick_scale(r.side, size);
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    pixels.resize(size_t(sw) * sh * 3);
    // A truncated JPEG decodes "successfully" with a warning and the missing rows grey.
    if (tjDecompress2(tj.h, bytes.data(), (unsigned long)bytes.size(), pixels.data(), sw, sw * 3,
                      sh, TJPF_RGB, TJFLAG_FASTDCT) != 0 &&
        (tjGetErrorCode(tj.h) == TJERR_FATAL ||
         std::strstr(tjGetErrorStr2(tj.h), "Premature end") != nullptr))
      throw Error("CelebA image " + file.string() + " could not be decoded (" +
                  tjGetErrorStr2(tj.h) + ")");
    preprocess(pixels.data(), sw, sh, w, h, crop, size, out, tmp);
    return;
  }
  // Not a JPEG after all (a PNG renamed .jpg, say): the general decoder names the file on failure.
  auto hwc = decode_image_memory(bytes.data(), bytes.size(), file.string());
  if (hwc.size(2) == 1) hwc = hwc.expand({-1, -1, 3});
  hwc = hwc.contiguous();
  preprocess(hwc.data_ptr<uint8_t>(), int(hwc.size(1)), int(hwc.size(0)), int(hwc.size(1)),
             int(hwc.size(0)), crop, size, out, tmp);
}

// Decodes every image of the index into `dst` (N x 3 x size x size) on `threads` threads.
void decode_all(const fs::path& dir, const CelebaIndex& ix, const CelebaOptions& o, int threads,
                uint8_t* dst) {
  const size_t n = ix.images.size();
  const size_t per = size_t(3) * o.size * o.size;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  const fs::path img_dir = dir / "img_align_celeba";
  auto work = [&] {
    TjHandle tj;
    std::vector<uint8_t> bytes, pixels, tmp;
    try {
      for (size_t i = next.fetch_add(1); i < n && !failed; i = next.fetch_add(1))
        decode_one(tj, img_dir / ix.images[i],
                   std::string(kAttrFile) + " line " + std::to_string(ix.attribute_lines[i]),
                   o.crop, o.size, dst + i * per, bytes, pixels, tmp);
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failed.exchange(true)) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// ---------------------------------------------------------------------------------------------
// The cache file: a 4096-byte header, then N x 3 x size x size uint8 (page aligned for mmap).

constexpr char kMagic[8] = {'A', 'L', 'I', 'C', 'E', 'L', 'E', 'B'};
// Bump when the decoding or preprocessing changes what the cache holds.
constexpr uint32_t kCacheVersion = 2;  // 2: images_hash
constexpr size_t kHeaderBytes = 4096;

struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  int64_t n, c, h, w;
  int32_t crop;
  int32_t reserved;
  int64_t attr_size, attr_mtime_ns, part_size, part_mtime_ns;
  uint64_t names_hash;  // FNV-1a of the image names in order
  uint64_t images_hash;  // FNV-1a of every image file's size and modification time (-1: missing)
  uint32_t payload_crc;
  uint32_t header_crc;  // of every byte above
};
static_assert(sizeof(CacheHeader) < kHeaderBytes);

void file_stamp(const fs::path& p, int64_t& size, int64_t& mtime_ns) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    size = -1;
    mtime_ns = 0;
    return;
  }
  size = int64_t(st.st_size);
  mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

uint64_t fnv1a(const std::vector<std::string>& names) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& s : names) {
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h;
}

CacheHeader expected_header(const fs::path& dir, const CelebaIndex& ix, const CelebaOptions& o) {
  CacheHeader h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kCacheVersion;
  h.header_bytes = kHeaderBytes;
  h.n = int64_t(ix.images.size());
  h.c = 3;
  h.h = h.w = o.size;
  h.crop = int32_t(o.crop);
  file_stamp(dir / kAttrFile, h.attr_size, h.attr_mtime_ns);
  file_stamp(dir / kPartitionFile, h.part_size, h.part_mtime_ns);
  h.names_hash = fnv1a(ix.images);
  // A JPEG replaced, edited or deleted since the cache was built makes it stale (one stat per
  // image: ~0.2 s for the real 202,599 when the folder is in the page cache).
  uint64_t stamp = 1469598103934665603ull;
  const fs::path img_dir = dir / "img_align_celeba";
  for (const auto& name : ix.images) {
    int64_t size = 0, mtime = 0;
    file_stamp(img_dir / name, size, mtime);
    for (int64_t v : {size, mtime})
      for (int b = 0; b < 8; ++b)
        stamp = (stamp ^ uint8_t(uint64_t(v) >> (8 * b))) * 1099511628211ull;
  }
  h.images_hash = stamp;
  return h;
}

uint32_t header_crc(const CacheHeader& h) {
  return uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(&h), uInt(offsetof(CacheHeader, header_crc))));
}

// CRC-32 of a large buffer on several threads (chunks combined with crc32_combine).
uint32_t parallel_crc(const uint8_t* p, size_t n, int threads) {
  threads = std::max(1, std::min<int>(threads, int(n / (1 << 20)) + 1));
  size_t chunk = (n + size_t(threads) - 1) / size_t(threads);
  std::vector<uLong> crcs(size_t(threads), 0);
  std::vector<size_t> lens(size_t(threads), 0);
  auto one = [&](int t) {
    size_t b = std::min(n, size_t(t) * chunk), e = std::min(n, b + chunk);
    uLong c = crc32(0L, Z_NULL, 0);
    for (size_t i = b; i < e; i += (1u << 30)) c = crc32(c, p + i, uInt(std::min<size_t>(e - i, 1u << 30)));
    crcs[size_t(t)] = c;
    lens[size_t(t)] = e - b;
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(one, t);
  one(0);
  for (auto& t : pool) t.join();
  uLong c = crcs[0];
  for (size_t t = 1; t < crcs.size(); ++t) c = crc32_combine(c, crcs[t], z_off_t(lens[t]));
  return uint32_t(c);
}

struct Mapping {
  void* addr = MAP_FAILED;
  size_t len = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) ::munmap(addr, len);
  }
};

// Maps a cache file and checks it against what it should hold. Returns null with `why` set when the
// file is absent, stale, truncated or corrupt.
std::shared_ptr<Mapping> open_cache(const fs::path& path, const CacheHeader& want, bool verify_payload,
                                    int threads, std::string& why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = "absent";
    return nullptr;
  }
  struct stat st {};
  ::fstat(fd, &st);
  const size_t payload = size_t(want.n * want.c * want.h * want.w);
  if (size_t(st.st_size) < kHeaderBytes) {
    ::close(fd);
    why = "truncated header";
    return nullptr;
  }
  auto m = std::make_shared<Mapping>();
  m->len = size_t(st.st_size);
  // Copy-on-write: a caller that writes into the images tensor changes its own pages, never the file.
  m->addr = ::mmap(nullptr, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m->addr == MAP_FAILED) {
    why = std::string("cannot map (") + std::strerror(errno) + ")";
    return nullptr;
  }
  CacheHeader got{};
  std::memcpy(&got, m->addr, sizeof got);
  if (std::memcmp(got.magic, kMagic, 8) != 0) {
    why = "not a cache file";
  } else if (got.header_crc != header_crc(got)) {
    why = "corrupt header";
  } else if (got.version != want.version || got.header_bytes != want.header_bytes) {
    why = "older cache version";
  } else if (got.n != want.n || got.c != want.c || got.h != want.h || got.w != want.w ||
             got.crop != want.crop || got.names_hash != want.names_hash) {
    why = "made for other images or another preprocessing";
  } else if (got.images_hash != want.images_hash) {
    why = "an image file changed or was deleted";
  } else if (got.attr_size != want.attr_size || got.attr_mtime_ns != want.attr_mtime_ns ||
             got.part_size != want.part_size || got.part_mtime_ns != want.part_mtime_ns) {
    why = "the attribute or partition file changed";
  } else if (m->len != kHeaderBytes + payload) {
    why = "truncated or padded payload";
  } else if (verify_payload && parallel_crc(static_cast<uint8_t*>(m->addr) + kHeaderBytes, payload,
                                            threads) != got.payload_crc) {
    why = "corrupt payload (checksum mismatch)";
  } else {
    return m;
  }
  return nullptr;
}

fs::path user_cache_path(const fs::path& dir, const CelebaOptions& o) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(dir, ec);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                (unsigned long long)fnv1a({ec ? dir.string() : canon.string()}));
  return user_cache_dir() /
         ("celeba-" + std::string(hex) + "-" + std::to_string(o.size) + "-" + to_string(o.crop) + ".u8");
}

// Decodes into a temporary file beside `path`, then renames it into place, so a reader never sees
// a half-written cache. Returns false (nothing written) when the folder is not writable.
bool build_cache(const fs::path& path, const fs::path& dir, const CelebaIndex& ix,
                 const CelebaOptions& o, int threads, CacheHeader header) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const size_t payload = size_t(header.n * header.c * header.h * header.w);
  const size_t len = kHeaderBytes + payload;
  auto fail = [&](const std::string& what) {
    ::close(fd);
    fs::remove(tmp, ec);
    throw Error("cannot write the CelebA cache " + tmp.string() + ": " + what);
  };
  // Reserve the blocks now: a full disk is an error here rather than a SIGBUS while writing.
  if (int e = ::posix_fallocate(fd, 0, off_t(len)); e != 0) fail(std::strerror(e));
  void* addr = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) fail(std::strerror(errno));
  auto* base = static_cast<uint8_t*>(addr);
  try {
    decode_all(dir, ix, o, threads, base + kHeaderBytes);
  } catch (...) {
    ::munmap(addr, len);
    ::close(fd);
    fs::remove(tmp, ec);
    throw;
  }
  header.payload_crc = parallel_crc(base + kHeaderBytes, payload, threads);
  header.header_crc = header_crc(header);
  std::memcpy(base, &header, sizeof header);
  ::munmap(addr, len);
  ::close(fd);
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot write the CelebA cache " + path.string() + ": " + ec.message());
  }
  return true;
}

}  // namespace

ImageSet load_celeba(const fs::path& dir, const std::string& split, const CelebaOptions& o,
                     CelebaStats* stats_out) {
  if (o.size < 1 || o.size > 1024) throw Error("CelebA image size must be 1..1024");
  int want_part = split == "train"                                         ? 0
                  : split == "valid" || split == "val" || split == "validation" ? 1
                  : split == "test"                                        ? 2
                  : split == "all"                                         ? -1
                                                                           : -2;
  if (want_part == -2)
    throw Error("unknown CelebA split '" + split + "' (use train, valid, test or all)");
  CelebaIndex ix = read_celeba_index(dir);
  if (want_part >= 0 && ix.partition.empty())
    throw Error("the " + split + " split needs " + (dir / kPartitionFile).string() +
                " (or ask for split 'all')");
  const int threads =
      o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  const int64_t n = int64_t(ix.images.size());
  const int64_t s = o.size;
  CelebaStats st;
  st.images = n;

  torch::Tensor all;  // uint8 N x 3 x s x s
  if (!o.cache) {
    st.cache_note = "off";
    auto t0 = Clock::now();
    all = torch::empty({n, 3, s, s}, torch::kUInt8);
    decode_all(dir, ix, o, threads, all.data_ptr<uint8_t>());
    st.decoded = true;
    st.decode_seconds = seconds_since(t0);
  } else {
    const CacheHeader want = expected_header(dir, ix, o);
    std::vector<fs::path> places{celeba_cache_path(dir, o)};
    if (o.cache_dir.empty()) places.push_back(user_cache_path(dir, o));
    std::shared_ptr<Mapping> map;
    std::string refused;
    auto t0 = Clock::now();
    for (const auto& p : places) {
      std::string why;
      map = open_cache(p, want, true, threads, why);
      if (map) {
        st.cache_path = p;
        st.cache_note = "reused";
        break;
      }
      if (why != "absent") {
        if (refused.empty()) refused = why;
        std::error_code ec;
        fs::remove(p, ec);  // never trusted again; rebuilt below
      }
    }
    if (map) {
      st.open_seconds = seconds_since(t0);
    } else {
      auto t1 = Clock::now();
      bool built = false;
      for (const auto& p : places) {
        if (build_cache(p, dir, ix, o, threads, want)) {
          st.cache_path = p;
          built = true;
          break;
        }
      }
      if (!built)
        throw Error("cannot write a CelebA cache in " + places.front().parent_path().string() +
                    (places.size() > 1 ? " nor in " + places.back().parent_path().string() : ""));
      st.decoded = true;
      st.decode_seconds = seconds_since(t1);
      st.cache_note = refused.empty() ? "built" : "rebuilt: " + refused;
      auto t2 = Clock::now();
      std::string why;
      map = open_cache(st.cache_path, want, false, threads, why);  // just written and checksummed
      if (!map) throw Error("the CelebA cache " + st.cache_path.string() + " vanished: " + why);
      st.open_seconds = seconds_since(t2);
    }
    auto* data = static_cast<uint8_t*>(map->addr) + kHeaderBytes;
    // The tensor owns the mapping: unmapped when the last tensor (or view) sharing it dies.
    all = torch::from_blob(
        data, {n, 3, s, s}, [map](void*) mutable { map.reset(); }, torch::kUInt8);
  }
  if (st.decode_seconds > 0) st.decode_images_per_s = double(n) / st.decode_seconds;
  if (st.open_seconds > 0) st.open_images_per_s = double(n) / st.open_seconds;

  ImageSet set;
  set.name = "celeba";
  set.attribute_names = ix.attribute_names;
  auto attrs = torch::from_blob(ix.attributes.data(),
                                {n, int64_t(ix.attribute_names.size())}, torch::kUInt8)
                   .to(torch::kFloat);
  if (want_part < 0) {
    set.images = all;
    set.attributes = attrs;
  } else {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n; ++i)
      if (ix.partition[size_t(i)] == want_part) rows.push_back(i);
    bool contiguous = !rows.empty() && rows.back() - rows.front() + 1 == int64_t(rows.size());
    if (contiguous) {
      set.images = all.narrow(0, rows.front(), int64_t(rows.size()));
      set.attributes = attrs.narrow(0, rows.front(), int64_t(rows.size())).clone();
    } else {
      auto index = torch::tensor(rows, torch::kLong);
      set.images = all.index_select(0, index);
      set.attributes = attrs.index_select(0, index);
    }
  }
  if (stats_out) *stats_out = st;
  return set;
}

}  // namespace ali
