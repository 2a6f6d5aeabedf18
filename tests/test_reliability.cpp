// Issue 15: each defect the fault-injection campaign found, reproduced. Crafted checkpoints, images
// beyond sane sizes, files that are not regular files, diverged weights, silent write failures,
// leftover temporaries and concurrent runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <stb_image_write.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "ali/celeba.h"
#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/file_io.h"
#include "ali/image_io.h"
#include "ali/trainer.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void put_le(std::string& s, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[at + size_t(i)] = char((v >> (8 * i)) & 0xff);
}

uint64_t get_le(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(s[at + size_t(i)])) << (8 * i);
  return v;
}

// A checkpoint with its header JSON replaced and the checksum recomputed: a crafted, not a damaged,
// file (the checksum only catches accidents).
std::string with_header(const std::string& file, const std::string& json,
                        const std::string* payload = nullptr) {
  uint64_t jlen = get_le(file, 12);
  uint64_t plen = get_le(file, 20 + jlen);
  std::string p = payload ? *payload : file.substr(28 + jlen, plen);
  std::string out = file.substr(0, 12) + std::string(8, '\0') + json + std::string(8, '\0') + p +
                    std::string(4, '\0');
  put_le(out, 12, json.size(), 8);
  put_le(out, 20 + json.size(), p.size(), 8);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(json.data()), json.size());
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(p.data()), p.size());
  put_le(out, out.size() - 4, crc, 4);
  return out;
}

nlohmann::json header_of(const std::string& file) {
  return nlohmann::json::parse(file.substr(20, get_le(file, 12)));
}

std::string payload_of(const std::string& file) {
  uint64_t jlen = get_le(file, 12);
  return file.substr(28 + jlen, get_le(file, 20 + jlen));
}

struct SmallModel {
  test::TempDir dir;
  std::string good;
  SmallModel() {
    ModelConfig c;
    c.arch = "fmnist28";
    AliModel m(c.resolved());
    CheckpointHeader h;
    h.config = m.config;
    save_model(dir / "good.ali", m, h);
    good = test::read_file(dir / "good.ali");
  }
  std::string load_error(const std::string& bytes) {
    test::write_file(dir / "crafted.ali", bytes);
    return error_of([&] { load_model(dir / "crafted.ali", torch::kCPU); });
  }
};

}  // namespace

TEST(Reliability, DeeplyNestedHeaderIsRefusedNotACrash) {
  SmallModel s;
  auto j = header_of(s.good).dump();
  std::string deep = j.substr(0, j.size() - 1) + ",\"deep\":" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  std::string e = s.load_error(with_header(s.good, deep));
  EXPECT_TRUE(contains(e, "crafted.ali") && contains(e, "nested")) << e;
}

TEST(Reliability, HeaderFieldsOutOfRangeAreRefusedBeforeAnyAllocation) {
  SmallModel s;
  auto edit = [&](const std::function<void(nlohmann::json&)>& f) {
    auto j = header_of(s.good);
    f(j);
    return s.load_error(with_header(s.good, j.dump()));
  };
  // nlat 1,000,000 once asked for 13 GB; 2^31-1 overflowed int.
  for (int64_t nlat : {int64_t(1000000), int64_t(2147483647), int64_t(-5), int64_t(0)}) {
    std::string e = edit([&](auto& j) { j["config"]["nlat"] = nlat; });
    EXPECT_TRUE(contains(e, "crafted.ali") && contains(e, "config.nlat")) << e;
  }
  EXPECT_TRUE(contains(edit([](auto& j) { j["config"]["nlat"] = 1e308; }), "not an integer"));
  EXPECT_TRUE(
      contains(edit([](auto& j) { j["config"]["image_channels"] = 7; }), "config.image_channels"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["training"]["batch"] = 0; }), "training.batch"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["training"]["lr"] = "fast"; }), "training.lr"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["training"]["rec_weight"] = nullptr; }),
                       "training.rec_weight"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["training"]["beta1"] = 1.5; }), "beta1"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["training"]["fit_encoder"] = "yes"; }),
                       "training.fit_encoder"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["step"] = -1; }), "step"));
  EXPECT_TRUE(contains(edit([](auto& j) {
                         j["config"]["attributes"] = {1, 2};
                       }),
                       "config.attributes"));
  EXPECT_TRUE(contains(edit([](auto& j) { j["config"].erase("arch"); }), "config.arch"));
  EXPECT_TRUE(
      contains(edit([](auto& j) { j["config"]["arch"] = "huge"; }), "unknown architecture"));
}

TEST(Reliability, WeightsThatDisagreeWithTheHeaderAreRefusedWithTheirShapes) {
  SmallModel s;
  auto j = header_of(s.good);
  j["config"]["nlat"] = 32;  // the weights were written for 64
  std::string e = s.load_error(with_header(s.good, j.dump()));
  EXPECT_TRUE(contains(e, "crafted.ali") && contains(e, "do not match its configuration") &&
              contains(e, "the configuration needs"))
      << e;
  auto b = header_of(s.good);
  b["config"]["bigan"] = true;  // same shapes: loads
  EXPECT_EQ(s.load_error(with_header(s.good, b.dump())), "(no error)");
}

TEST(Reliability, NonFiniteWeightsAreNeitherSavedNorLoaded) {
  test::TempDir dir;
  auto t = test::small_trainer();
  t->step();
  t->save(dir / "run.ali");
  {
    torch::NoGradGuard g;
    // What an optimiser step can leave behind even when the step's loss was finite.
    t->model().decoder->parameters()[0].view(-1)[0] = std::nanf("");
  }
  // Saving a diverged model refuses, so the file on disk stays the last good one.
  EXPECT_THROW(t->save(dir / "run.ali"), NonFiniteWeights);
  EXPECT_EQ(read_checkpoint_header(dir / "run.ali").step, 1);
  EXPECT_NO_THROW(load_model(dir / "run.ali", torch::kCPU));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "run.ali");

  // A file holding NaN (written by an older build) is refused by the readers.
  AliModel m(t->model().config);
  {
    torch::NoGradGuard g;
    m.encoder->parameters()[0].view(-1)[3] = std::numeric_limits<float>::infinity();
  }
  torch::serialize::OutputArchive archive, e, d, dd;
  m.encoder->save(e);
  m.decoder->save(d);
  m.discriminator->save(dd);
  archive.write("encoder", e);
  archive.write("decoder", d);
  archive.write("discriminator", dd);
  std::ostringstream os;
  archive.save_to(os);
  CheckpointHeader h;
  h.config = m.config;
  write_checkpoint_file(dir / "nan.ali", h, os.str());
  std::string err = error_of([&] { load_model(dir / "nan.ali", torch::kCPU); });
  EXPECT_TRUE(contains(err, "nan.ali") && contains(err, "non-finite")) << err;
  err = error_of([&] { Trainer::resume(dir / "nan.ali", torch::kCPU); });
  EXPECT_TRUE(contains(err, "non-finite")) << err;
}

TEST(Reliability, NonFiniteOptionsAreRefused) {
  ModelConfig c;
  c.arch = "fmnist28";
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0}) {
    TrainOptions o;
    o.rec_weight = bad;
    EXPECT_TRUE(contains(error_of([&] { Trainer(c, o, torch::kCPU); }), "reconstruction weight"));
    o = {};
    o.lr = bad;
    EXPECT_TRUE(contains(error_of([&] { Trainer(c, o, torch::kCPU); }), "learning rate"));
    o = {};
    o.d_lr_scale = bad;
    EXPECT_TRUE(contains(error_of([&] { Trainer(c, o, torch::kCPU); }), "scale"));
  }
}

TEST(Reliability, FifosAndDevicesAreRefusedWithoutBlocking) {
  test::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe").c_str(), 0644), 0);
  for (const fs::path& p : {dir / "pipe", fs::path("/dev/zero")}) {
    std::string e = error_of([&] { read_checkpoint_file(p); });
    EXPECT_TRUE(contains(e, p.string()) && contains(e, "not a regular file")) << e;
    e = error_of([&] { decode_image_file(p); });
    EXPECT_TRUE(contains(e, "not a regular file")) << e;
    e = error_of([&] { read_idx(p); });
    EXPECT_TRUE(contains(e, "not a regular file")) << e;
    EXPECT_FALSE(looks_like_checkpoint(p));
  }
}

namespace {
void append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}
}  // namespace

TEST(Reliability, ImagesBeyondSaneSizesAreRefusedByTheirHeader) {
  test::TempDir dir;
  // 1 x 20,000: tiny as a file, 15 MB once conformed (1 x 2,000,000 cost 3 GB and 14 s; it is
  // refused as too large, below).
  std::vector<uint8_t> column(20000, 128);
  std::string png;
  stbi_write_png_to_func(append, &png, 1, 20000, 1, column.data(), 1);
  test::write_file(dir / "column.png", png);
  std::string e = error_of([&] { load_image(dir / "column.png", 28, 1); });
  EXPECT_TRUE(contains(e, "column.png") && contains(e, "too elongated")) << e;

  // A header claiming 100,000 x 100,000 (stb_image itself would say "unknown image type").
  std::string big = png;
  for (size_t at : {16, 20}) {
    big[at] = 0, big[at + 1] = 0x01, big[at + 2] = char(0x86), big[at + 3] = char(0xA0);
  }
  test::write_file(dir / "big.png", big);
  e = error_of([&] { decode_image_file(dir / "big.png"); });
  EXPECT_TRUE(contains(e, "big.png") && contains(e, "too large")) << e;
}

TEST(Reliability, TruncatedJpegIsRefusedNotGreyFilled) {
  test::TempDir dir;
  auto rgb = torch::randint(0, 256, {64, 64, 3}, torch::kUInt8).contiguous();
  std::string jpg;
  stbi_write_jpg_to_func(append, &jpg, 64, 64, 3, rgb.data_ptr<uint8_t>(), 90);
  test::write_file(dir / "whole.jpg", jpg);
  EXPECT_NO_THROW(decode_image_file(dir / "whole.jpg"));
  test::write_file(dir / "cut.jpg", jpg.substr(0, jpg.size() * 2 / 3));
  std::string e = error_of([&] { decode_image_file(dir / "cut.jpg"); });
  EXPECT_TRUE(contains(e, "cut.jpg") && contains(e, "truncated")) << e;
}

TEST(Reliability, IdxDimensionsThatOverflowAreRefused) {
  test::TempDir dir;
  std::string idx("\0\0\x08\x04", 4);
  idx += std::string(16, char(0xff));  // four dimensions of 2^32-1: the product wraps in 64 bits
  idx += std::string(64, 'x');
  test::write_file(dir / "wrap-idx3-ubyte", idx);
  std::string e = error_of([&] { read_idx(dir / "wrap-idx3-ubyte"); });
  EXPECT_TRUE(contains(e, "wrap-idx3-ubyte") && contains(e, "too large")) << e;
}

// libFuzzer's first find: no elements (a zero dimension) but others whose product overflows
// LibTorch's strides, which crashed in the tensor's copy.
TEST(Reliability, IdxEmptyButHugeDimensionsAreRefused) {
  test::TempDir dir;
  std::string idx("\0\0\x08\x04" "\0\0\0\0" "\x08\x04\xff\xff" "\xff\xfd\0\0" "\x08\0\0\0", 20);
  test::write_file(dir / "empty-idx3-ubyte", idx);
  std::string e = error_of([&] { read_idx(dir / "empty-idx3-ubyte"); });
  EXPECT_TRUE(contains(e, "empty-idx3-ubyte") && contains(e, "too large")) << e;
  // A genuinely empty set of small images is still read.
  test::write_file(dir / "none-idx3-ubyte", std::string("\0\0\x08\x03" "\0\0\0\0" "\0\0\0\x1c" "\0\0\0\x1c", 16));
  EXPECT_EQ(read_idx(dir / "none-idx3-ubyte").sizes(), torch::IntArrayRef({0, 28, 28}));
}

TEST(Reliability, OutputFormatFollowsTheName) {
  test::TempDir dir;
  auto img = torch::rand({3, 8, 8});
  save_image(dir / "a.jpg", img);
  save_image(dir / "a.png", img);
  EXPECT_EQ(test::read_file(dir / "a.jpg").substr(0, 2), "\xff\xd8");
  EXPECT_EQ(test::read_file(dir / "a.png").substr(1, 3), "PNG");
  std::string e = error_of([&] { save_image(dir / "a.txt", img); });
  EXPECT_TRUE(contains(e, "a.txt") && contains(e, ".png or .jpg")) << e;
}

TEST(Reliability, AFullDiskIsAnErrorAndLeavesNothingBehind) {
  test::TempDir dir;
  // RLIMIT_FSIZE makes write() fail as a full disk does, without needing a mount.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ignore, &old);
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string e1 = error_of(
      [&] { write_file_atomically(dir / "big.bin", std::string(100000, 'x'), "test file"); });
  std::string e2 = error_of([&] { save_png(dir / "noise.png", torch::rand({3, 256, 256})); });
  std::string e3 = error_of([&] { test::small_trainer()->save(dir / "c.ali"); });
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &old, nullptr);
  EXPECT_TRUE(contains(e1, "cannot write test file") && contains(e1, "big.bin")) << e1;
  EXPECT_TRUE(contains(e2, "noise.png")) << e2;
  EXPECT_TRUE(contains(e3, "c.ali")) << e3;
  EXPECT_TRUE(fs::is_empty(dir.path()));  // no empty "written" file, no temporary
}

TEST(Reliability, TemporariesOfDeadWritersAreRemoved) {
  test::TempDir dir;
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a process id that no longer exists
  const std::string dead = "m.ali.tmp-" + std::to_string(child);
  const std::string alive = "m.ali.tmp-" + std::to_string(::getppid());
  test::write_file(dir / dead, std::string(1000, 'x'));
  test::write_file(dir / alive, std::string(10, 'x'));
  test::small_trainer()->save(dir / "m.ali");
  EXPECT_FALSE(fs::exists(dir / dead));
  EXPECT_TRUE(fs::exists(dir / alive));  // another live process may still be writing it
  EXPECT_TRUE(fs::exists(dir / "m.ali"));
}

TEST(Reliability, ARunFolderCanBeLockedOnlyOnce) {
  test::TempDir dir;
  auto first = std::make_unique<FolderLock>(dir.path());
  std::string e = error_of([&] { FolderLock second(dir.path()); });
  EXPECT_TRUE(contains(e, dir.path().string()) &&
              contains(e, "in use by process " + std::to_string(::getpid())))
      << e;
  first.reset();
  EXPECT_NO_THROW(FolderLock again(dir.path()));
  EXPECT_TRUE(fs::exists(dir / ".lock")) << "a folder that was there keeps its lock file";
  // A folder the lock made: gone again when nothing else was written (a run refused at once), kept
  // with what was.
  { FolderLock made(dir / "new"); }
  EXPECT_FALSE(fs::exists(dir / "new"));
  {
    FolderLock made(dir / "used");
    test::write_file(dir / "used" / "log.csv", "step\n");
  }
  EXPECT_TRUE(fs::exists(dir / "used" / "log.csv"));
}

TEST(Reliability, CelebaCacheNoticesAChangedOrDeletedJpeg) {
  test::TempDir dir;
  fs::create_directories(dir / "img_align_celeba");
  std::string attr = "3\n";
  for (const auto& a : celeba_attribute_names()) attr += a + " ";
  attr += "\n";
  auto write_jpeg = [&](const std::string& name, int value, int quality) {
    auto img = torch::full({218, 178, 3}, value, torch::kUInt8);
    ASSERT_TRUE(stbi_write_jpg((dir / "img_align_celeba" / name).c_str(), 178, 218, 3,
                               img.data_ptr<uint8_t>(), quality));
  };
  for (int i = 1; i <= 3; ++i) {
    std::string name = "00000" + std::to_string(i) + ".jpg";
    write_jpeg(name, 40 * i, 95);
    attr += name;
    for (int k = 0; k < 40; ++k) attr += " -1";
    attr += "\n";
  }
  test::write_file(dir / "list_attr_celeba.txt", attr);
  CelebaStats s1, s2, s3;
  auto a = load_celeba(dir.path(), "all", {}, &s1);
  EXPECT_TRUE(s1.decoded);
  // Same name, new content (and another size): the cache must not serve the old pixels.
  write_jpeg("000002.jpg", 250, 60);
  auto b = load_celeba(dir.path(), "all", {}, &s2);
  EXPECT_TRUE(s2.decoded) << s2.cache_note;
  EXPECT_TRUE(contains(s2.cache_note, "image file changed")) << s2.cache_note;
  EXPECT_FALSE(torch::equal(a.images[1], b.images[1]));
  // Deleted: an error naming the file, not the cached pixels.
  fs::remove(dir / "img_align_celeba" / "000003.jpg");
  std::string e = error_of([&] { load_celeba(dir.path(), "all", {}, &s3); });
  EXPECT_TRUE(contains(e, "000003.jpg")) << e;
  // Truncated: refused, not decoded with grey rows.
  write_jpeg("000003.jpg", 90, 95);
  std::string jpg = test::read_file(dir / "img_align_celeba" / "000003.jpg");
  test::write_file(dir / "img_align_celeba" / "000003.jpg", jpg.substr(0, jpg.size() / 2));
  e = error_of([&] { load_celeba(dir.path(), "all", {}, &s3); });
  EXPECT_TRUE(contains(e, "000003.jpg")) << e;
}
