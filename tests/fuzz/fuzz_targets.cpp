#include "fuzz_targets.h"

#include <stb_image_write.h>
#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ali/celeba.h"
#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/error.h"
#include "ali/image_io.h"

namespace fs = std::filesystem;

namespace ali::fuzz {
namespace {

constexpr const char* kSplit = "\n--partition--\n";  // separates the two CelebA list files

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("fuzz harness cannot write " + p.string());
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

uint64_t pick(std::mt19937_64& rng, uint64_t n) { return n == 0 ? 0 : rng() % n; }

// Values that break size arithmetic.
const std::vector<uint64_t>& interesting() {
  static const std::vector<uint64_t> v{0,
                                       1,
                                       2,
                                       3,
                                       7,
                                       28,
                                       255,
                                       256,
                                       4096,
                                       65535,
                                       65536,
                                       1000000,
                                       0x7fffffff,
                                       0x80000000,
                                       0xffffffff,
                                       0x100000000ull,
                                       0x7fffffffffffffffull,
                                       ~0ull};
  return v;
}

std::string gzip(const std::string& s) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, s.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = uInt(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put_be32(std::string& s, size_t at, uint32_t v) {
  if (at + 4 > s.size()) return;
  for (int i = 0; i < 4; ++i) s[at + i] = char((v >> (24 - 8 * i)) & 0xff);
}
void put_le(std::string& s, size_t at, uint64_t v, int bytes) {
  if (at + size_t(bytes) > s.size()) return;
  for (int i = 0; i < bytes; ++i) s[at + i] = char((v >> (8 * i)) & 0xff);
}
void put_be16(std::string& s, size_t at, uint32_t v) {
  if (at + 2 > s.size()) return;
  s[at] = char((v >> 8) & 0xff);
  s[at + 1] = char(v & 0xff);
}

// Generic byte-level mutations inside [lo, hi).
void mutate_bytes(std::string& s, std::mt19937_64& rng, size_t lo = 0,
                  size_t hi = std::string::npos) {
  hi = std::min(hi, s.size());
  if (lo >= hi) return;
  int ops = 1 + int(pick(rng, 4));
  for (int k = 0; k < ops && lo < hi && hi <= s.size(); ++k) {
    size_t at = lo + pick(rng, hi - lo);
    switch (pick(rng, 8)) {
      case 0:
        s[at] = char(s[at] ^ (1 << pick(rng, 8)));
        break;
      case 1:
        s[at] = char(rng());
        break;
      case 2:
        s.resize(at);
        hi = std::min(hi, s.size());
        break;  // truncate
      case 3:
        s.insert(at, std::string(1 + pick(rng, 64), char(rng())));
        break;
      case 4:
        s.erase(at, 1 + pick(rng, std::min<size_t>(256, hi - at)));
        hi = std::min(hi, s.size());
        break;
      case 5: {  // duplicate a chunk
        size_t len = 1 + pick(rng, std::min<size_t>(512, s.size() - at));
        s.insert(at, s.substr(at, len));
        break;
      }
      case 6: {  // an interesting integer, little or big endian, 2/4/8 bytes
        uint64_t v = interesting()[pick(rng, interesting().size())];
        int w = 2 << pick(rng, 3);
        if (rng() & 1)
          put_le(s, at, v, w);
        else
          for (int i = 0; i < w && at + size_t(i) < s.size(); ++i)
            s[at + size_t(i)] = char((v >> (8 * (w - 1 - i))) & 0xff);
        break;
      }
      default:
        std::fill_n(s.begin() + long(at), std::min<size_t>(1 + pick(rng, 32), s.size() - at), '\0');
    }
  }
}

// ---- checkpoints ----------------------------------------------------------------------------

struct Ckpt {
  std::string head;  // magic + version
  std::string json, payload;
};

bool split_ckpt(const std::string& s, Ckpt& c) {
  if (s.size() < 20) return false;
  uint64_t jlen = 0, plen = 0;
  for (int i = 0; i < 8; ++i) jlen |= uint64_t(uint8_t(s[12 + i])) << (8 * i);
  if (jlen > s.size() - 20 - 8) return false;
  for (int i = 0; i < 8; ++i) plen |= uint64_t(uint8_t(s[20 + jlen + i])) << (8 * i);
  if (plen > s.size() - 28 - jlen) return false;
  c.head = s.substr(0, 12);
  c.json = s.substr(20, jlen);
  c.payload = s.substr(28 + jlen, plen);
  return true;
}

std::string join_ckpt(const Ckpt& c) {
  std::string out = c.head;
  std::string n(8, '\0');
  put_le(n, 0, c.json.size(), 8);
  out += n + c.json;
  put_le(n, 0, c.payload.size(), 8);
  out += n + c.payload;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(c.json.data()), c.json.size());
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(c.payload.data()), c.payload.size());
  std::string tail(4, '\0');
  put_le(tail, 0, crc, 4);
  return out + tail;
}

nlohmann::json interesting_json(std::mt19937_64& rng) {
  switch (pick(rng, 16)) {
    case 0:
      return 0;
    case 1:
      return -1;
    case 2:
      return 2147483647;
    case 3:
      return 1000000;
    case 4:
      return int64_t(-9223372036854775807LL - 1);
    case 5:
      return 1e308;
    case 6:
      return 3.5;
    case 7:
      return "svhn32";
    case 8:
      return nullptr;
    case 9:
      return nlohmann::json::array();
    case 10:
      return nlohmann::json::object();
    case 11:
      return true;
    case 12:
      return std::string(1 + pick(rng, 100000), 'a');
    case 13:
      return 32;  // a valid but different latent size: weights of another shape
    case 14:
      return 3;  // channels of another model
    default: {
      nlohmann::json a = nlohmann::json::array();
      for (uint64_t i = 0, n = pick(rng, 5000); i < n; ++i) a.push_back("attr" + std::to_string(i));
      return a;
    }
  }
}

std::string mutate_checkpoint(const std::string& seed, std::mt19937_64& rng) {
  Ckpt c;
  std::string s = seed;
  if (!split_ckpt(seed, c) || pick(rng, 10) < 2) {  // accidents: the checksum catches most
    mutate_bytes(s, rng);
    return s;
  }
  uint64_t mode = pick(rng, 10);
  if (mode < 4) {  // a header field edited, the checksum recomputed (a crafted file)
    auto j = nlohmann::json::parse(c.json);
    static const std::vector<std::vector<std::string>> fields{{"config", "arch"},
                                                              {"config", "nlat"},
                                                              {"config", "image_channels"},
                                                              {"config", "image_size"},
                                                              {"config", "bigan"},
                                                              {"config", "attributes"},
                                                              {"config", "dataset"},
                                                              {"training", "batch"},
                                                              {"training", "lr"},
                                                              {"training", "beta1"},
                                                              {"training", "beta2"},
                                                              {"training", "seed"},
                                                              {"training", "d_lr_scale"},
                                                              {"training", "rec_weight"},
                                                              {"step"},
                                                              {"class_names"},
                                                              {"format_version"},
                                                              {"extra"}};
    int edits = 1 + int(pick(rng, 2));
    for (int e = 0; e < edits; ++e) {
      const auto& f = fields[pick(rng, fields.size())];
      nlohmann::json* node = &j;
      for (size_t i = 0; i + 1 < f.size(); ++i) node = &(*node)[f[i]];
      if (pick(rng, 6) == 0)
        node->erase(f.back());
      else
        (*node)[f.back()] = interesting_json(rng);
    }
    c.json = j.dump();
    if (pick(rng, 8) == 0) {  // deep nesting
      size_t depth = 1 + pick(rng, 200000);
      c.json.insert(c.json.size() - 1,
                    ",\"deep\":" + std::string(depth, '[') + std::string(depth, ']'));
    }
  } else if (mode < 5) {
    mutate_bytes(c.json, rng);
  } else {  // the LibTorch archive edited; the zip's records and the pickles sit at its ends
    size_t n = c.payload.size();
    size_t lo = 0, hi = n;
    uint64_t where = pick(rng, 4);
    if (where == 0) hi = std::min<size_t>(n, 4096);
    if (where == 1) lo = n > 65536 ? n - 65536 : 0;
    if (where == 2) {
      size_t at = c.payload.find("PK", pick(rng, n));
      if (at != std::string::npos) lo = at, hi = std::min(n, at + 64);
    }
    mutate_bytes(c.payload, rng, lo, hi);
  }
  return join_ckpt(c);
}

// ---- images ---------------------------------------------------------------------------------

void append_cb(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}

std::string mutate_image(const std::string& seed, std::mt19937_64& rng) {
  std::string s = seed;
  if (pick(rng, 3) == 0) {  // the dimensions, where each format keeps them
    uint64_t v = interesting()[pick(rng, interesting().size())];
    if (s.rfind("\x89PNG", 0) == 0) {
      put_be32(s, 16 + 4 * pick(rng, 2), uint32_t(v));
    } else if (s.rfind("BM", 0) == 0) {
      put_le(s, 18 + 4 * pick(rng, 2), v, 4);
    } else if (s.rfind("GIF", 0) == 0) {
      put_le(s, 6 + 2 * pick(rng, 2), v, 2);
    } else if (size_t sof = s.find("\xff\xc0"); sof != std::string::npos) {
      put_be16(s, sof + 5 + 2 * pick(rng, 2), uint32_t(v));
    }
    if (pick(rng, 2)) return s;
  }
  mutate_bytes(s, rng);
  return s;
}

// ---- IDX ------------------------------------------------------------------------------------

std::string mutate_idx(const std::string& seed, std::mt19937_64& rng) {
  bool gz = seed.size() > 2 && uint8_t(seed[0]) == 0x1f && uint8_t(seed[1]) == 0x8b;
  if (gz && pick(rng, 2)) {
    std::string s = seed;
    mutate_bytes(s, rng);
    return s;
  }
  std::string plain = seed;
  if (gz) {  // edit the content, compress again
    z_stream zs{};
    inflateInit2(&zs, 15 + 16);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(plain.data());
    zs.avail_in = uInt(plain.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = uInt(out.size());
    inflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    plain = out;
  }
  if (pick(rng, 2)) {
    int dim = int(pick(rng, 4));
    put_be32(plain, 4 + 4 * size_t(dim), uint32_t(interesting()[pick(rng, interesting().size())]));
    if (pick(rng, 3) == 0) plain[3] = char(pick(rng, 6));
  } else {
    mutate_bytes(plain, rng);
  }
  return gz ? gzip(plain) : plain;
}

// ---- CelebA lists ---------------------------------------------------------------------------

std::string mutate_celeba(const std::string& seed, std::mt19937_64& rng) {
  std::string s = seed;
  if (pick(rng, 2)) {
    mutate_bytes(s, rng);
    return s;
  }
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (lines.empty()) return s;
  size_t i = pick(rng, lines.size());
  static const std::vector<std::string> tokens{
      "-1",         "1", "0",  "2",   "99999999999999999999", "", "-",
      "000001.jpg", " ", "\t", "1e9", std::string(5000, 'x')};
  switch (pick(rng, 5)) {
    case 0:
      lines.insert(lines.begin() + long(i), lines[i]);
      break;
    case 1:
      lines.erase(lines.begin() + long(i));
      break;
    case 2:
      std::swap(lines[i], lines[pick(rng, lines.size())]);
      break;
    case 3: {
      auto& l = lines[i];
      size_t sp = l.find(' ', pick(rng, l.size() + 1));
      l.insert(sp == std::string::npos ? l.size() : sp, " " + tokens[pick(rng, tokens.size())]);
      break;
    }
    default:
      lines[i] = tokens[pick(rng, tokens.size())];
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

const std::vector<std::string>& target_names() {
  static const std::vector<std::string> v{"checkpoint", "idx", "image", "celeba"};
  return v;
}

std::vector<std::string> seed_inputs(const std::string& target) {
  std::vector<std::string> out;
  if (target == "checkpoint") {
    fs::path tmp =
        fs::temp_directory_path() / ("ali-fuzz-seed-" + std::to_string(::getpid()) + ".ali");
    ModelConfig c;
    c.arch = "fmnist28";
    torch::manual_seed(1);
    AliModel m(c.resolved());
    CheckpointHeader h;
    h.config = m.config;
    h.class_names = {"a", "b"};
    save_model(tmp, m, h);
    out.push_back(read_bytes(tmp));
    fs::remove(tmp);
  } else if (target == "image") {
    torch::manual_seed(2);
    auto rgb = torch::randint(0, 256, {12, 17, 3}, torch::kUInt8).contiguous();
    auto grey = torch::randint(0, 256, {9, 6, 1}, torch::kUInt8).contiguous();
    std::string png, png_grey, jpg, bmp;
    stbi_write_png_to_func(append_cb, &png, 17, 12, 3, rgb.data_ptr<uint8_t>(), 17 * 3);
    stbi_write_png_to_func(append_cb, &png_grey, 6, 9, 1, grey.data_ptr<uint8_t>(), 6);
    stbi_write_jpg_to_func(append_cb, &jpg, 17, 12, 3, rgb.data_ptr<uint8_t>(), 90);
    stbi_write_bmp_to_func(append_cb, &bmp, 17, 12, 3, rgb.data_ptr<uint8_t>());
    fs::path tmp =
        fs::temp_directory_path() / ("ali-fuzz-seed-" + std::to_string(::getpid()) + ".gif");
    save_gif(tmp, {rgb.permute({2, 0, 1}).to(torch::kFloat).div(255)});
    out = {png, png_grey, jpg, bmp, read_bytes(tmp)};
    fs::remove(tmp);
  } else if (target == "idx") {
    std::string images("\0\0\x08\x03", 4), labels("\0\0\x08\x01", 4);
    std::string dims(12, '\0');
    put_be32(dims, 0, 5);
    put_be32(dims, 4, 28);
    put_be32(dims, 8, 28);
    images += dims;
    for (int i = 0; i < 5 * 28 * 28; ++i) images += char(i * 7);
    std::string n(4, '\0');
    put_be32(n, 0, 5);
    labels += n + std::string("\1\2\3\4\5", 5);
    out = {images, labels, gzip(images)};
  } else if (target == "celeba") {
    std::string attr = "3\n";
    for (const auto& name : celeba_attribute_names()) attr += name + " ";
    attr += "\n";
    for (int r = 1; r <= 3; ++r) {
      char file[32];
      std::snprintf(file, sizeof file, "%06d.jpg", r);
      attr += file;
      for (int k = 0; k < 40; ++k) attr += ((r + k) % 3 ? "  1" : " -1");
      attr += "\n";
    }
    std::string part = "000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n";
    out = {attr + kSplit + part};
  } else {
    throw Error("unknown fuzz target '" + target + "'");
  }
  return out;
}

std::string mutate(const std::string& target, const std::string& seed, std::mt19937_64& rng) {
  if (target == "checkpoint") return mutate_checkpoint(seed, rng);
  if (target == "image") return mutate_image(seed, rng);
  if (target == "idx") return mutate_idx(seed, rng);
  return mutate_celeba(seed, rng);
}

void run_target(const std::string& target, const std::string& bytes, const fs::path& dir) {
  if (target == "checkpoint") {
    fs::path p = dir / "case.ali";
    write_bytes(p, bytes);
    read_checkpoint_header(p);
    load_model(p, torch::kCPU);
  } else if (target == "image") {
    fs::path p = dir / "case.img";
    write_bytes(p, bytes);
    load_image(p, 28, 1);
  } else if (target == "idx") {
    fs::path p = dir / "case.idx";
    write_bytes(p, bytes);
    read_idx(p);
  } else if (target == "celeba") {
    size_t cut = bytes.find(kSplit);
    write_bytes(dir / "list_attr_celeba.txt", bytes.substr(0, cut));
    if (cut == std::string::npos)
      fs::remove(dir / "list_eval_partition.txt");
    else
      write_bytes(dir / "list_eval_partition.txt", bytes.substr(cut + std::string(kSplit).size()));
    read_celeba_index(dir);
  } else {
    throw Error("unknown fuzz target '" + target + "'");
  }
}

}  // namespace ali::fuzz
