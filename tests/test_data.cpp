// IDX and image-folder readers on files the test writes; preprocessing; the batch stream.
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <zlib.h>

#include "ali/error.h"
#include "ali/file_io.h"
#include "ali/image_io.h"
#include "test_util.h"

using namespace ali;
using ali::test::error_of;
namespace fs = std::filesystem;

namespace {

std::string idx_bytes(const torch::Tensor& t) {
  std::string s{0, 0, 0x08, char(t.dim())};
  for (int64_t d : t.sizes()) {
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(char((d >> sh) & 0xff));
  }
  auto c = t.contiguous();
  s.append(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), size_t(c.numel()));
  return s;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

void write_png(const fs::path& p, const torch::Tensor& hwc) {
  auto c = hwc.contiguous();
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(stbi_write_png(p.c_str(), int(c.size(1)), int(c.size(0)), int(c.size(2)),
                             c.data_ptr<uint8_t>(), int(c.size(1) * c.size(2))));
}


}  // namespace

TEST(Data, IdxPlainAndGzipRoundTrip) {
  test::TempDir dir;
  auto images = torch::randint(0, 256, {5, 4, 3}, torch::kUInt8);
  test::write_file(dir / "plain", idx_bytes(images));
  write_gz(dir / "zipped.gz", idx_bytes(images));
  EXPECT_TRUE(torch::equal(read_idx(dir / "plain"), images));
  EXPECT_TRUE(torch::equal(read_idx(dir / "zipped.gz"), images));
}

TEST(Data, BadIdxFilesAreRefused) {
  test::TempDir dir;
  auto full = idx_bytes(torch::zeros({10, 28, 28}, torch::kUInt8));
  test::write_file(dir / "trunc", full.substr(0, full.size() - 7));
  EXPECT_NE(error_of([&] { read_idx(dir / "trunc"); }).find("truncated"), std::string::npos);
  test::write_file(dir / "junk", "GIF89a not idx");
  EXPECT_NE(error_of([&] { read_idx(dir / "junk"); }).find("not an IDX file"), std::string::npos);
  EXPECT_NE(error_of([&] { read_idx(dir / "nothing"); }).find("does not exist"), std::string::npos);
  std::string gz_junk = "\x1f\x8b\x08\x00garbage-garbage-garbage";
  test::write_file(dir / "badgz.gz", gz_junk);
  EXPECT_NE(error_of([&] { read_idx(dir / "badgz.gz"); }), "(no error)");
}

TEST(Data, MnistFolderLoadsBothSplits) {
  test::TempDir dir;
  auto tr = torch::randint(0, 256, {12, 28, 28}, torch::kUInt8);
  auto tl = torch::randint(0, 10, {12}, torch::kUInt8);
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_bytes(tr));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes(tl));
  test::write_file(dir / "t10k-images-idx3-ubyte", idx_bytes(tr.narrow(0, 0, 3)));
  test::write_file(dir / "t10k-labels-idx1-ubyte", idx_bytes(tl.narrow(0, 0, 3)));
  auto s = load_mnist_folder(dir.path(), "train");
  EXPECT_EQ(s.images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(s.images.squeeze(1), tr));
  EXPECT_TRUE(torch::equal(s.labels, tl.to(torch::kLong)));
  EXPECT_EQ(load_mnist_folder(dir.path(), "test").size(), 3);
  // Through the generic entry point, resized for a 32x32 RGB preset.
  auto rgb = load_dataset(dir.path().string(), "train", 32, 3);
  EXPECT_EQ(rgb.images.sizes(), (std::vector<int64_t>{12, 3, 32, 32}));
  EXPECT_NE(error_of([&] { load_mnist_folder(dir / "nope", "train"); }).find("does not exist"),
            std::string::npos);
}

TEST(Data, MnistFoldersNameAsManyClassesAsTheirLabelsAndRefuseEmptyImages) {
  test::TempDir dir;
  auto tr = torch::randint(0, 256, {4, 28, 28}, torch::kUInt8);
  test::write_file(dir / "train-images-idx3-ubyte", idx_bytes(tr));
  test::write_file(dir / "train-labels-idx1-ubyte", idx_bytes(torch::tensor({0, 3, 25, 1}, torch::kUInt8)));
  test::write_file(dir / "t10k-images-idx3-ubyte", idx_bytes(tr.narrow(0, 0, 2)));
  test::write_file(dir / "t10k-labels-idx1-ubyte", idx_bytes(torch::tensor({0, 2}, torch::kUInt8)));
  // EMNIST-style letters: 26 classes, named alike in both splits (the test split lacks the last).
  EXPECT_EQ(load_mnist_folder(dir.path(), "train").class_names.size(), 26u);
  EXPECT_EQ(load_mnist_folder(dir.path(), "test").class_names, load_mnist_folder(dir.path(), "train").class_names);
  // A Fashion-MNIST folder has ten.
  fs::create_directories(dir / "fashion");
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}) fs::copy(dir / f, dir / "fashion" / f);
  EXPECT_NE(error_of([&] { load_mnist_folder(dir / "fashion", "train"); }).find("go up to 25"), std::string::npos);
  // Images of 0 x 0 pixels.
  test::write_file(dir / "train-images-idx3-ubyte", idx_bytes(torch::zeros({4, 0, 0}, torch::kUInt8)));
  EXPECT_NE(error_of([&] { load_mnist_folder(dir.path(), "train"); }).find("0 x 0 pixels"), std::string::npos);
}

TEST(Data, ImageFolderWithMixedSizesAndClassFolders) {
  test::TempDir dir;
  write_png(dir / "cats/a.png", torch::full({30, 40, 3}, 200, torch::kUInt8));
  write_png(dir / "cats/b.png", torch::full({28, 28, 1}, 10, torch::kUInt8));
  write_png(dir / "dogs/c.png", torch::full({60, 50, 4}, 90, torch::kUInt8));
  auto s = load_image_folder(dir.path(), 28, 1);
  EXPECT_EQ(s.images.sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"cats", "dogs"}));
  EXPECT_TRUE(torch::equal(s.labels, torch::tensor({0, 0, 1}, torch::kLong)));
  EXPECT_EQ(s.images[1].max().item<int>(), 10);
  auto rgb = load_image_folder(dir.path(), 32, 3);
  EXPECT_EQ(rgb.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
}

TEST(Data, CorruptImagesAndEmptyFoldersAreRefused) {
  test::TempDir dir;
  write_png(dir / "ok.png", torch::zeros({8, 8, 3}, torch::kUInt8));
  test::write_file(dir / "broken.png", "\x89PNG\r\n\x1a\n this is not really a png");
  std::string msg = error_of([&] { load_image_folder(dir.path(), 28, 1); });
  EXPECT_NE(msg.find("broken.png"), std::string::npos) << msg;
  test::TempDir empty;
  EXPECT_NE(error_of([&] { load_image_folder(empty.path(), 28, 1); }).find("no images"),
            std::string::npos);
  test::write_file(empty / "notes.txt", "hello");
  EXPECT_NE(error_of([&] { decode_image_file(empty / "notes.txt"); }).find("notes.txt"),
            std::string::npos);
}

TEST(Data, ConformResizesShorterSideAndCropsTheCentre) {
  // 84 wide, 28 high: black | white | black thirds. Centre crop to 28 keeps the white third.
  auto img = torch::zeros({28, 84, 1}, torch::kUInt8);
  img.narrow(1, 28, 28).fill_(255);
  auto out = conform_image(img, 28, 1);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_GT(out.to(torch::kFloat).mean().item<float>(), 250.f);
  // Twice as large: scaled down, still the centre.
  auto big = torch::zeros({56, 168, 3}, torch::kUInt8);
  big.narrow(1, 56, 56).fill_(255);
  auto rgb = conform_image(big, 28, 3);
  EXPECT_EQ(rgb.sizes(), (std::vector<int64_t>{3, 28, 28}));
  EXPECT_GT(rgb.to(torch::kFloat).mean().item<float>(), 240.f);
  // RGB to grey by luma: pure red -> 0.299 * 255.
  auto red = torch::zeros({4, 4, 3}, torch::kUInt8);
  red.select(2, 0).fill_(255);
  EXPECT_NEAR(conform_image(red, 4, 1)[0][0][0].item<int>(), 76, 1);
}

TEST(Data, BatchesDependOnlyOnSeedAndStep) {
  auto a = batch_indices(100, 10, 7, 3), b = batch_indices(100, 10, 7, 3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, batch_indices(100, 10, 8, 3)));
  // One epoch visits every image once.
  std::vector<torch::Tensor> epoch;
  for (int s = 0; s < 10; ++s) epoch.push_back(batch_indices(100, 10, 7, s));
  auto all = std::get<0>(torch::sort(torch::cat(epoch)));
  EXPECT_TRUE(torch::equal(all, torch::arange(100, torch::kLong)));
  EXPECT_FALSE(torch::equal(batch_indices(100, 10, 7, 0), batch_indices(100, 10, 7, 10)));
  EXPECT_THROW(batch_indices(5, 10, 7, 0), Error);
}

TEST(Data, PrefetchingLoaderYieldsTheSameStream) {
  auto set = test::synthetic_set(50, 1, 28);
  BatchLoader loader(set, 8, 5, 4, torch::kCPU);
  for (int64_t step = 4; step < 14; ++step) {
    Batch b = loader.next();
    EXPECT_EQ(b.step, step);
    auto idx = batch_indices(50, 8, 5, step);
    EXPECT_TRUE(torch::equal(b.index, idx));
    EXPECT_TRUE(torch::allclose(b.x, set->float_images(idx)));
    EXPECT_TRUE(torch::equal(b.labels, set->labels.index_select(0, idx)));
  }
}

TEST(Data, ClassAttributesAreOneHot) {
  auto set = with_class_attributes(*test::synthetic_set(20, 1, 28, 4));
  EXPECT_EQ(set.attributes.sizes(), (std::vector<int64_t>{20, 4}));
  EXPECT_TRUE(torch::equal(set.attributes.argmax(1), set.labels));
  EXPECT_EQ(set.attribute_names, set.class_names);
}

TEST(Data, GridsPngAndGifFilesAreWritten) {
  test::TempDir dir;
  auto imgs = torch::rand({5, 3, 8, 8});
  auto grid = make_grid(imgs, 3, 2);
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{3, 2 * 10 + 2, 3 * 10 + 2}));
  save_png(dir / "g.png", grid);
  auto back = decode_image_file(dir / "g.png");
  EXPECT_EQ(back.sizes(), (std::vector<int64_t>{22, 32, 3}));
  save_gif(dir / "a.gif", {imgs[0], imgs[1], imgs[2]});
  auto gif = decode_image_file(dir / "a.gif");  // stb reads the first frame
  EXPECT_EQ(gif.size(0), 8);
  save_gif(dir / "grey.gif", {torch::rand({1, 8, 8}), torch::rand({1, 8, 8})});
  EXPECT_EQ(test::read_file(dir / "grey.gif").substr(0, 6), "GIF89a");
  save_image(dir / "g.JPG", grid);  // by the name, in any case
  EXPECT_EQ(test::read_file(dir / "g.JPG").substr(0, 3), "\xFF\xD8\xFF");
}

TEST(Data, ImageNamesAndSizesAFormatCannotHoldAreRefused) {
  test::TempDir dir;
  auto img = torch::rand({3, 4, 4});
  // Each writer takes its own names only: PNG bytes under .jpg or .gif would be a lie.
  EXPECT_NE(error_of([&] { save_png(dir / "a.jpg", img); }).find("name it .png"), std::string::npos);
  EXPECT_NE(error_of([&] { save_image(dir / "a.bmp", img); }).find("name it .png or .jpg"), std::string::npos);
  EXPECT_NE(error_of([&] { save_gif(dir / "a.png", {img}); }).find("name it .gif"), std::string::npos);
  EXPECT_NE(error_of([&] { save_gif(dir / "a.gif", {img}, 0); }).find("delay"), std::string::npos);
  // JPEG and GIF store a side in 16 bits: a taller picture is refused, not written corrupt.
  auto tall = torch::zeros({1, 65536, 1});
  EXPECT_NE(error_of([&] { save_image(dir / "tall.jpg", tall); }).find("65,535 pixels a side"), std::string::npos);
  EXPECT_NE(error_of([&] { save_gif(dir / "tall.gif", {tall}); }).find("65,535 pixels a side"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "tall.jpg"));
  save_png(dir / "tall.png", tall);  // PNG holds it
  EXPECT_EQ(test::read_file(dir / "tall.png").substr(1, 3), "PNG");
  // Checked before any work: the name, and a folder that can be made.
  EXPECT_NO_THROW(check_image_output(dir / "new" / "deeper" / "a.gif", ImageFiles::StillOrGif));
  EXPECT_NO_THROW(check_image_output(dir / "a.JPEG", ImageFiles::Still));
  EXPECT_NE(error_of([&] { check_image_output(dir / "a.gif", ImageFiles::Still); }).find("name it .png or .jpg"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_image_output(dir / "a.jpg", ImageFiles::Png); }).find("name it .png"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_image_output(dir / "tall.png" / "x.png", ImageFiles::Png); }).find("not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { check_output_path(dir.path(), "codes"); }).find("it is a folder"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "new")) << "a check makes nothing";
}
