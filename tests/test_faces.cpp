// make-faces: a deterministic synthetic face dataset in the CelebA layout whose rendered features follow
// the attributes it writes, checked both on single renders and on the 64x64 images the loader makes.
#include <gtest/gtest.h>

#include <algorithm>

#include "ali/celeba.h"
#include "ali/faces.h"
#include "ali/image_io.h"
#include "test_util.h"

using namespace ali;
namespace fs = std::filesystem;

namespace {

int column(const char* name) {
  const auto& names = celeba_attribute_names();
  auto it = std::find(names.begin(), names.end(), name);
  EXPECT_NE(it, names.end()) << name;
  return int(it - names.begin());
}

// Fraction of pixels darker than `level` (luma) in rows [r0, r1) and columns [c0, c1) of each image.
torch::Tensor dark_fraction(const torch::Tensor& images, int r0, int r1, int c0, int c1, float level) {
  auto x = images.to(torch::kFloat).narrow(2, r0, r1 - r0).narrow(3, c0, c1 - c0);
  auto luma = x.select(1, 0) * 0.299 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114;
  return luma.lt(level).to(torch::kFloat).mean({1, 2});
}

}  // namespace

TEST(Faces, SameSeedSameFilesAndTheReaderLoadsThem) {
  test::TempDir a, b, c;
  FaceDatasetOptions o;
  o.count = 40;
  o.seed = 3;
  auto sa = make_face_dataset(a.path(), o);
  o.threads = 1;  // the thread count must not change a byte
  make_face_dataset(b.path(), o);
  o.threads = 0;
  o.seed = 4;
  make_face_dataset(c.path(), o);
  EXPECT_EQ(sa.count, 40);
  EXPECT_EQ(sa.train, 32);
  EXPECT_EQ(sa.valid, 4);
  EXPECT_EQ(sa.test, 4);
  for (int i = 1; i <= 40; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img_align_celeba/%06d.jpg", i);
    ASSERT_EQ(test::read_file(a / name), test::read_file(b / name)) << name;
  }
  for (const char* f : {"list_attr_celeba.txt", "list_eval_partition.txt"})
    EXPECT_EQ(test::read_file(a / f), test::read_file(b / f)) << f;
  EXPECT_NE(test::read_file(a / "list_attr_celeba.txt"), test::read_file(c / "list_attr_celeba.txt"));
  EXPECT_NE(test::read_file(a / "img_align_celeba/000001.jpg"),
            test::read_file(c / "img_align_celeba/000001.jpg"));

  // Exactly the CelebA layout: the strict reader takes it, with the 40 names in CelebA's order.
  auto ix = read_celeba_index(a.path());
  EXPECT_EQ(ix.attribute_names, celeba_attribute_names());
  EXPECT_EQ(ix.images.front(), "000001.jpg");
  EXPECT_EQ(ix.images.back(), "000040.jpg");
  EXPECT_EQ(std::count(ix.partition.begin(), ix.partition.end(), 2), 4);
  auto img = decode_image_file(a / "img_align_celeba/000001.jpg");
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{218, 178, 3}));
  CelebaOptions co;
  co.cache_dir = a / "cache";
  auto test_split = load_celeba(a.path(), "test", co);
  EXPECT_EQ(test_split.images.sizes(), (std::vector<int64_t>{4, 3, 64, 64}));
  // Row 37 of the file is the first test image; its attributes come along.
  auto row = celeba_row(draw_face_attributes(0));  // shape only
  EXPECT_EQ(test_split.attributes.size(1), int64_t(row.size()));
  for (size_t k = 0; k < row.size(); ++k)
    EXPECT_EQ(test_split.attributes[0][int64_t(k)].item<float>(), float(ix.attributes[36 * 40 + k]));
  // And through the generic entry point the training command uses.
  EXPECT_EQ(load_dataset(a.path().string(), "valid", 64, 3).size(), 4);
  // A folder with a dataset in it (this one, or CelebA itself) is never written over.
  const std::string before = test::read_file(a / "list_attr_celeba.txt");
  o.count = 3;
  EXPECT_NE(test::error_of([&] { make_face_dataset(a.path(), o); }).find("is not empty"), std::string::npos);
  EXPECT_EQ(test::read_file(a / "list_attr_celeba.txt"), before);
  EXPECT_NE(test::error_of([&] { make_face_dataset(a / "list_attr_celeba.txt", o); }).find("is a file"),
            std::string::npos);
}

TEST(Faces, AttributeRatesAreSaneAndRowsConsistent) {
  const char* drawn[] = {"Smiling",   "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat",
                         "Black_Hair", "Blond_Hair",         "Brown_Hair", "Gray_Hair",
                         "Bald",       "Bangs",              "Male",       "Mustache",
                         "Goatee",     "Pale_Skin",          "Wavy_Hair"};
  const int n = 1000;
  std::vector<int> on(40, 0);
  for (int i = 0; i < n; ++i) {
    auto row = celeba_row(draw_face_attributes(1000 + uint64_t(i)));
    ASSERT_EQ(row.size(), 40u);
    for (size_t k = 0; k < 40; ++k) {
      ASSERT_TRUE(row[k] == 1 || row[k] == -1);
      on[k] += row[k] == 1;
    }
    auto at = [&](const char* name) { return row[size_t(column(name))] == 1; };
    EXPECT_LE(at("Black_Hair") + at("Blond_Hair") + at("Brown_Hair") + at("Gray_Hair"), 1);
    EXPECT_EQ(at("No_Beard"), !at("Mustache") && !at("Goatee"));
    if (at("Mustache") || at("Goatee") || at("Bald")) EXPECT_TRUE(at("Male"));
    if (at("Bald")) EXPECT_FALSE(at("Bangs") || at("Wavy_Hair"));
  }
  for (const char* name : drawn) {
    double rate = double(on[size_t(column(name))]) / n;
    EXPECT_GE(rate, 0.15) << name;
    EXPECT_LE(rate, 0.55) << name;
  }
  for (const char* name : {"Attractive", "Young", "Blurry", "Wearing_Necktie"})
    EXPECT_EQ(on[size_t(column(name))], 0) << name << " is not drawn, so it is written as -1";
}

TEST(Faces, SingleFeaturesChangeWhereTheyLive) {
  // The same face (same seed for pose and colours) with one attribute switched.
  FaceAttributes base = draw_face_attributes(77);
  base.wearing_hat = false;
  base.bald = false;
  base.eyeglasses = false;
  base.smiling = false;
  base.mouth_slightly_open = false;
  auto render = [&](FaceAttributes a) { return render_face(a, 5).to(torch::kFloat); };
  EXPECT_TRUE(torch::equal(render_face(base, 5), render_face(base, 5)));
  EXPECT_FALSE(torch::equal(render_face(base, 5), render_face(base, 6)));
  FaceAttributes blond = base, black = base;
  blond.hair = HairColour::Blond;
  black.hair = HairColour::Black;
  EXPECT_GT((render(blond) - render(black)).mean().item<float>(), 5.f);
  // Mean row of the changed pixels (the image is 218 rows; the eyes sit near 112, the mouth near 149).
  auto changed_row = [&](FaceAttributes a) {
    auto d = (render(a) - render(base)).abs().sum(2);
    auto rows = d.gt(30).nonzero();
    EXPECT_GT(rows.size(0), 100);
    return rows.select(1, 0).to(torch::kDouble).mean().item<double>();
  };
  FaceAttributes glasses = base, smile = base, open = base, hat = base;
  glasses.eyeglasses = true;
  smile.smiling = true;
  open.mouth_slightly_open = true;
  hat.wearing_hat = true;
  EXPECT_NEAR(changed_row(glasses), 112, 15);
  EXPECT_NEAR(changed_row(smile), 149, 15);
  EXPECT_NEAR(changed_row(open), 149, 15);
  EXPECT_LT(changed_row(hat), 90);
}

TEST(Faces, FeaturesAreReadableAt64x64AfterAliPreprocessing) {
  test::TempDir dir;
  FaceDatasetOptions o;
  o.count = 240;
  o.seed = 11;
  make_face_dataset(dir.path(), o);
  CelebaOptions co;
  co.cache_dir = dir / "cache";
  auto set = load_celeba(dir.path(), "all", co);
  ASSERT_EQ(set.images.sizes(), (std::vector<int64_t>{240, 3, 64, 64}));
  auto attr = [&](const char* name) { return set.attributes.select(1, column(name)).gt(0.5); };
  auto plain_top = attr("Wearing_Hat").logical_not() & attr("Bald").logical_not();

  // Hair on top of the head (rows 13-19, the middle columns): blond is far brighter than black.
  auto top = set.images.to(torch::kFloat).narrow(2, 13, 6).narrow(3, 26, 12).mean({1, 2, 3});
  auto blond = attr("Blond_Hair") & plain_top, black = attr("Black_Hair") & plain_top;
  ASSERT_GT(blond.sum().item<int64_t>(), 10);
  ASSERT_GT(black.sum().item<int64_t>(), 10);
  float blond_mean = top.masked_select(blond).mean().item<float>();
  float black_mean = top.masked_select(black).mean().item<float>();
  EXPECT_GT(blond_mean - black_mean, 80.f) << blond_mean << " vs " << black_mean;

  // The eye band (rows 28-38): eyeglasses frames add many dark pixels.
  auto eyes = dark_fraction(set.images, 28, 38, 20, 44, 60.f);
  auto with = attr("Eyeglasses"), without = with.logical_not();
  float glasses_dark = eyes.masked_select(with).mean().item<float>();
  float plain_dark = eyes.masked_select(without).mean().item<float>();
  EXPECT_GT(glasses_dark, 2 * plain_dark + 0.05f) << glasses_dark << " vs " << plain_dark;

  // The mouth (rows 43-51): an open mouth is a dark opening (beards left out: they are dark too).
  auto mouth = dark_fraction(set.images, 43, 51, 26, 38, 45.f);
  auto shaven = attr("Mustache").logical_not() & attr("Goatee").logical_not();
  auto open = attr("Mouth_Slightly_Open") & shaven, shut = attr("Mouth_Slightly_Open").logical_not() & shaven;
  float open_dark = mouth.masked_select(open).mean().item<float>();
  float shut_dark = mouth.masked_select(shut).mean().item<float>();
  EXPECT_GT(open_dark, 2 * shut_dark + 0.03f) << open_dark << " vs " << shut_dark;
}
