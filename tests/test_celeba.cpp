// CelebA in its real layout, on files the test writes: the strict text readers, the JPEG cache, and the
// make-faces generator whose rendered features must follow the attributes it writes.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include "ali/celeba.h"
#include "ali/error.h"
#include "ali/faces.h"
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

TEST(Faces, SameSeedSameFilesAndTheReaderLoadsThem) {
  test::TempDir a, b, c;
  FaceDatasetOptions o;
  o.count = 40;
  o.seed = 3;
  auto sa = make_face_dataset(a.path(), o);
  make_face_dataset(b.path(), o);
  o.seed = 4;
  make_face_dataset(c.path(), o);
  EXPECT_EQ(sa.count, 40);
  EXPECT_EQ(sa.train + sa.valid + sa.test, 40);
  for (const char* f : {"list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba/000007.jpg"}) {
    EXPECT_EQ(test::read_file(a / f), test::read_file(b / f)) << f;
  }
  EXPECT_NE(test::read_file(a / "list_attr_celeba.txt"), test::read_file(c / "list_attr_celeba.txt"));
  auto ix = read_celeba_index(a.path());
  EXPECT_EQ(ix.attribute_names, celeba_attribute_names());
  EXPECT_EQ(ix.attribute_names.size(), 40u);
  auto img = decode_image_file(a / "img_align_celeba/000001.jpg");
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{218, 178, 3}));
}

TEST(Faces, AttributeRatesAndRowsAreConsistent) {
  int on_smiling = 0, on_glasses = 0, n = 400;
  for (int i = 0; i < n; ++i) {
    auto a = draw_face_attributes(1000 + i);
    auto row = celeba_row(a);
    const auto& names = celeba_attribute_names();
    auto at = [&](const char* name) { return row[size_t(std::find(names.begin(), names.end(), name) - names.begin())]; };
    on_smiling += at("Smiling") == 1;
    on_glasses += at("Eyeglasses") == 1;
    int hair = (at("Black_Hair") == 1) + (at("Blond_Hair") == 1) + (at("Brown_Hair") == 1) + (at("Gray_Hair") == 1);
    EXPECT_LE(hair, 1);  // hair colours exclude each other
    EXPECT_EQ(at("No_Beard") == 1, at("Mustache") != 1 && at("Goatee") != 1);
    if (at("Mustache") == 1 || at("Goatee") == 1) EXPECT_EQ(at("Male"), 1);
    EXPECT_EQ(at("Attractive"), -1);  // not drawn: written as -1
  }
  EXPECT_GT(on_smiling, n / 6);
  EXPECT_LT(on_smiling, n * 6 / 10);
  EXPECT_GT(on_glasses, n / 6);
  EXPECT_LT(on_glasses, n * 6 / 10);
}

TEST(Faces, RenderedFeaturesFollowTheAttributes) {
  // The same face (same seed for pose and colours) with one attribute switched: the pixels change
  // where that feature lives, and hair colours differ in brightness as their names say.
  FaceAttributes base = draw_face_attributes(77);
  base.wearing_hat = false;
  base.bald = false;
  base.eyeglasses = false;
  auto render = [&](FaceAttributes a) { return render_face(a, 5).to(torch::kFloat); };
  FaceAttributes blond = base, black = base;
  blond.hair = HairColour::Blond;
  black.hair = HairColour::Black;
  auto diff_hair = (render(blond) - render(black)).mean(2);
  EXPECT_GT(diff_hair.mean().item<float>(), 5.f);  // blond hair is brighter than black hair
  FaceAttributes glasses = base;
  glasses.eyeglasses = true;
  auto d_glasses = (render(glasses) - render(base)).abs().sum(2);
  auto changed = d_glasses.gt(30).nonzero();
  ASSERT_GT(changed.size(0), 100);  // eyeglasses draw something visible
  // ... in the upper-middle of the face, not at the chin or on the background corners.
  double mean_row = changed.select(1, 0).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(mean_row, 50);
  EXPECT_LT(mean_row, 150);
  FaceAttributes smile = base;
  smile.smiling = !base.smiling;
  EXPECT_GT((render(smile) - render(base)).abs().sum().item<float>(), 1000.f);
}
