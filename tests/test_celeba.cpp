// CelebA in its real layout, on files the test writes: the strict text readers and the JPEG cache.
// (make-faces has its own suite in test_faces.cpp.)
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include "ali/celeba.h"
#include "ali/error.h"
#include "ali/image_io.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;
namespace fs = std::filesystem;

namespace {


// A tiny CelebA folder: n JPEGs (178x218, a flat colour each), 3 attributes, CRLF, tabs, double spaces.
void write_celeba(const fs::path& dir, int n) {
  fs::create_directories(dir / "img_align_celeba");
  std::string attr = std::to_string(n) + "\r\nSmiling Eyeglasses\tBald\r\n";
  std::string part;
  for (int i = 1; i <= n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.jpg", i);
    auto img = torch::full({218, 178, 3}, 20 * i, torch::kUInt8);
    ASSERT_TRUE(stbi_write_jpg((dir / "img_align_celeba" / name).c_str(), 178, 218, 3,
                               img.data_ptr<uint8_t>(), 95));
    attr += std::string(name) + (i % 2 ? "  1" : " -1") + "\t-1  " + (i == 3 ? "1" : "-1") + "\r\n";
    part += std::string(name) + " " + std::to_string(i <= n - 2 ? 0 : (i == n - 1 ? 1 : 2)) + "\n";
  }
  test::write_file(dir / "list_attr_celeba.txt", attr);
  test::write_file(dir / "list_eval_partition.txt", part);
}

}  // namespace

TEST(Celeba, ReadsTheRealLayoutWithCrlfTabsAndSpaces) {
  test::TempDir dir;
  write_celeba(dir.path(), 6);
  EXPECT_TRUE(is_celeba_folder(dir.path()));
  auto ix = read_celeba_index(dir.path());
  EXPECT_EQ(ix.attribute_names, (std::vector<std::string>{"Smiling", "Eyeglasses", "Bald"}));
  ASSERT_EQ(ix.images.size(), 6u);
  EXPECT_EQ(ix.attributes[0 * 3 + 0], 1);  // 000001: Smiling
  EXPECT_EQ(ix.attributes[1 * 3 + 0], 0);
  EXPECT_EQ(ix.attributes[2 * 3 + 2], 1);  // 000003: Bald
  CelebaOptions o;
  o.cache_dir = dir / "cache";
  auto train = load_celeba(dir.path(), "train", o);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{4, 3, 64, 64}));
  EXPECT_EQ(train.attributes.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(train.attribute_names[2], "Bald");
  EXPECT_NEAR(train.images[1].to(torch::kFloat).mean().item<float>(), 40.f, 3.f);  // the 2nd image
  EXPECT_EQ(load_celeba(dir.path(), "test", o).size(), 1);
  EXPECT_EQ(load_celeba(dir.path(), "all", o).size(), 6);
  // Through the generic entry point, sized for another preset.
  EXPECT_EQ(load_dataset(dir.path().string(), "valid", 32, 1).images.sizes(),
            (std::vector<int64_t>{1, 1, 32, 32}));
}

TEST(Celeba, MalformedFilesNameTheFileAndLine) {
  test::TempDir dir;
  write_celeba(dir.path(), 4);
  std::string good = test::read_file(dir / "list_attr_celeba.txt");
  auto with_line = [&](int line, const std::string& text) {  // replace 1-based line `line`
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < good.size()) {
      size_t end = good.find('\n', start);
      lines.push_back(good.substr(start, end - start + 1));
      start = end + 1;
    }
    lines[size_t(line - 1)] = text;
    std::string s;
    for (auto& l : lines) s += l;
    test::write_file(dir / "list_attr_celeba.txt", s);
    return error_of([&] { read_celeba_index(dir.path()); });
  };
  std::string e = with_line(4, "000002.jpg 1 1\r\n");  // one value short
  EXPECT_NE(e.find("list_attr_celeba.txt:4"), std::string::npos) << e;
  e = with_line(5, "000003.jpg 1 0 1\r\n");  // 0 is not -1/1
  EXPECT_NE(e.find("list_attr_celeba.txt:5"), std::string::npos) << e;
  e = with_line(1, "7\r\n");  // count does not match the rows
  EXPECT_NE(e.find("list_attr_celeba.txt"), std::string::npos) << e;
  test::write_file(dir / "list_attr_celeba.txt", good);
  test::write_file(dir / "list_eval_partition.txt", "000001.jpg 0\n000002.jpg 7\n");
  e = error_of([&] { read_celeba_index(dir.path()); });
  EXPECT_NE(e.find("list_eval_partition.txt:2"), std::string::npos) << e;
  write_celeba(dir.path(), 4);
  fs::remove(dir / "img_align_celeba" / "000003.jpg");
  CelebaOptions o;
  o.cache = false;
  e = error_of([&] { load_celeba(dir.path(), "all", o); });
  EXPECT_NE(e.find("000003.jpg"), std::string::npos) << e;
  fs::remove(dir / "list_attr_celeba.txt");
  EXPECT_FALSE(is_celeba_folder(dir.path()));
}

TEST(Celeba, CacheIsBuiltOnceReusedAndRebuiltWhenStaleOrCorrupt) {
  test::TempDir dir;
  write_celeba(dir.path(), 5);
  CelebaOptions o;
  CelebaStats s1, s2, s3, s4;
  auto a = load_celeba(dir.path(), "all", o, &s1);
  EXPECT_TRUE(s1.decoded);
  EXPECT_TRUE(fs::exists(s1.cache_path));
  auto b = load_celeba(dir.path(), "all", o, &s2);
  EXPECT_FALSE(s2.decoded);  // memory-mapped, no JPEG decoded
  EXPECT_EQ(s2.cache_note, "reused");
  EXPECT_TRUE(torch::equal(a.images, b.images));
  // The attribute file changes: the cache is not trusted.
  std::string attr = test::read_file(dir / "list_attr_celeba.txt");
  test::write_file(dir / "list_attr_celeba.txt", attr + "\r\n");
  load_celeba(dir.path(), "all", o, &s3);
  EXPECT_TRUE(s3.decoded);
  // A damaged cache is rebuilt.
  std::string cache = test::read_file(s3.cache_path);
  cache[cache.size() - 10] ^= 0x55;
  test::write_file(s3.cache_path, cache);
  auto c = load_celeba(dir.path(), "all", o, &s4);
  EXPECT_TRUE(s4.decoded) << s4.cache_note;
  EXPECT_TRUE(torch::equal(a.images, c.images));
}

TEST(Celeba, EachMalformedCaseSaysWhatIsWrong) {
  test::TempDir dir;
  write_celeba(dir.path(), 4);
  const std::string attr = test::read_file(dir / "list_attr_celeba.txt");
  const std::string part = test::read_file(dir / "list_eval_partition.txt");
  auto attr_error = [&](const std::string& text) {
    test::write_file(dir / "list_attr_celeba.txt", text);
    test::write_file(dir / "list_eval_partition.txt", part);
    return error_of([&] { read_celeba_index(dir.path()); });
  };
  auto part_error = [&](const std::string& text) {
    test::write_file(dir / "list_attr_celeba.txt", attr);
    test::write_file(dir / "list_eval_partition.txt", text);
    return error_of([&] { read_celeba_index(dir.path()); });
  };
  auto has = [](const std::string& e, const std::string& what) {
    return e.find(what) != std::string::npos;
  };
  const std::string names = "1\nSmiling Eyeglasses Bald\n";
  std::string e = attr_error(names + "000001.jpg 1 -1\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:3") && has(e, "expected 4 fields")) << e;
  e = attr_error(names + "000001.jpg 1 -1 yes\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:3") && has(e, "expected -1 or 1") && has(e, "Bald")) << e;
  e = attr_error("2\nSmiling Eyeglasses Bald\n000001.jpg 1 -1 1\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:1") && has(e, "says 2 images")) << e;
  e = attr_error("many\nSmiling Eyeglasses Bald\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:1") && has(e, "image count")) << e;
  e = attr_error("2\r\nSmiling Eyeglasses Bald\r\n000001.jpg 1 -1 1\r\n000001.jpg 1 -1 1\r\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:4") && has(e, "listed twice")) << e;
  e = attr_error("0\nSmiling Smiling\n");
  EXPECT_TRUE(has(e, "list_attr_celeba.txt:2") && has(e, "named twice")) << e;

  e = part_error("000001.jpg 0\n000002.jpg 0\n000099.jpg 0\n");
  EXPECT_TRUE(has(e, "list_eval_partition.txt:3") && has(e, "000099.jpg") &&
              has(e, "not listed in list_attr_celeba.txt"))
      << e;
  e = part_error("000001.jpg 0\r\n000002.jpg\t3\r\n");
  EXPECT_TRUE(has(e, "list_eval_partition.txt:2") && has(e, "'3'")) << e;
  e = part_error("000001.jpg 0\n000001.jpg 1\n");
  EXPECT_TRUE(has(e, "list_eval_partition.txt:2") && has(e, "listed twice")) << e;
  e = part_error("000001.jpg 0 extra\n");
  EXPECT_TRUE(has(e, "list_eval_partition.txt:1") && has(e, "expected 2 fields")) << e;
  e = part_error("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n");  // 000004.jpg has no partition
  EXPECT_TRUE(has(e, "list_eval_partition.txt") && has(e, "000004.jpg") && has(e, "no partition")) << e;

  // A missing image is named with the line that lists it.
  test::write_file(dir / "list_attr_celeba.txt", attr);
  test::write_file(dir / "list_eval_partition.txt", part);
  fs::remove(dir / "img_align_celeba" / "000002.jpg");
  CelebaOptions o;
  o.cache_dir = dir / "cache";
  e = error_of([&] { load_celeba(dir.path(), "train", o); });
  EXPECT_TRUE(has(e, "000002.jpg") && has(e, "missing") && has(e, "line 4")) << e;
  EXPECT_TRUE(!fs::exists(dir / "cache") || fs::is_empty(dir / "cache"));  // no half-built cache left
  EXPECT_TRUE(has(error_of([&] { load_celeba(dir.path(), "holdout", o); }), "unknown CelebA split"));
}

TEST(Celeba, TruncatedOrGarbageCacheIsRebuiltAndCropsDiffer) {
  test::TempDir dir;
  write_celeba(dir.path(), 3);
  CelebaOptions o;
  CelebaStats s;
  // Cloned: the set maps the cache file, and this test rewrites that file in place (the loader
  // itself never does; it writes a new file and renames it over the old one).
  auto first = load_celeba(dir.path(), "all", o, &s).images.clone();
  ASSERT_EQ(s.cache_path, celeba_cache_path(dir.path(), o));
  std::string bytes = test::read_file(s.cache_path);
  test::write_file(s.cache_path, bytes.substr(0, bytes.size() - 100));  // truncated
  auto again = load_celeba(dir.path(), "all", o, &s);
  EXPECT_TRUE(s.decoded);
  EXPECT_NE(s.cache_note.find("rebuilt"), std::string::npos) << s.cache_note;
  EXPECT_TRUE(torch::equal(first, again.images));
  test::write_file(s.cache_path, std::string(5000, 'x'));  // not a cache at all
  load_celeba(dir.path(), "all", o, &s);
  EXPECT_TRUE(s.decoded) << s.cache_note;
  load_celeba(dir.path(), "all", o, &s);
  EXPECT_FALSE(s.decoded);
  EXPECT_GT(s.open_images_per_s, 0);
  // The other crops get their own cache files.
  CelebaOptions c108 = o;
  c108.crop = CelebaCrop::Center108;
  load_celeba(dir.path(), "all", c108, &s);
  EXPECT_TRUE(s.decoded);
  EXPECT_NE(s.cache_path, celeba_cache_path(dir.path(), o));
  EXPECT_EQ(parse_celeba_crop("140"), CelebaCrop::Center140);
}
