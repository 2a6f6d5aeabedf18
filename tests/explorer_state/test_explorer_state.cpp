// The explorer's state without a display (this program links neither GLFW nor ImGui nor OpenGL):
// drop an image, encode it, shelve its code, change the model, re-encode, toggle an attribute,
// interpolate, and check the state after each step. Views re-render because their inputs changed,
// never by hand.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <zlib.h>

#include "ali/celeba.h"
#include "ali/text.h"
#include "ali/faces.h"
#include "ali/image_io.h"
#include "ali/batch_statistics.h"
#include "ali/inpaint.h"
#include "ali/latent.h"
#include "ali/tsne.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;
using namespace ali;
using namespace ali::explorer;

namespace {

class ExplorerState : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ali-explorer-state-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    for (char i = '0'; i < '6'; ++i)  // a tiny image-folder dataset, so the test split loads at once
      save_png(dir_ / "data" / (std::string("d") + i + ".png"), torch::rand({1, 28, 28}));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<AppState> make_state() {
    Options o;
    o.config_dir = dir_ / "config";
    o.data = (dir_ / "data").string();
    return std::make_unique<AppState>(o);
  }
  // Frames until `done` (or 60 s): what the window's loop does, without drawing.
  static bool pump(AppState& s, const std::function<bool()>& done) {
    for (int i = 0; i < 12000; ++i) {
      s.update();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  static void settle(AppState& s) {
    ASSERT_TRUE(pump(s, [&] { return s.idle(); }));
    s.update();  // results delivered; nothing new posted when nothing changed
    ASSERT_TRUE(pump(s, [&] { return s.idle(); }));
  }
  static std::shared_ptr<AliModel> model(uint64_t seed, std::vector<std::string> attributes = {}) {
    torch::manual_seed(seed);
    ModelConfig c;
    c.arch = "fmnist28";
    c.nlat = 8;
    c.attributes = std::move(attributes);
    auto m = std::make_shared<AliModel>(c);
    m->train(false);
    return m;
  }
  static void adopt(AppState& s, std::shared_ptr<AliModel> m) {
    CheckpointHeader h;
    h.config = m->config;
    h.class_names = m->config.attributes;  // class-conditional: one-hot rows
    s.host.adopt(m, h, "");
  }
  std::string write_image(const std::string& name, int h, int w) {
    auto p = dir_ / name;
    save_png(p, torch::rand({3, h, w}));
    return p.string();
  }
  static int max_pixel_difference(const PixelBuffer& a, const PixelBuffer& b) {
    if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 256;
    int d = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i)
      d = std::max(d, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
    return d;
  }
  fs::path dir_;
};

TEST_F(ExplorerState, DropEncodeShelfModelChangeReencodeInterpolate) {
  auto s = make_state();
  auto a = model(1);
  adopt(*s, a);
  EXPECT_TRUE(s->has_model());
  settle(*s);
  EXPECT_FALSE(s->live.samples.empty()) << "the sample grid renders once a model is there";
  EXPECT_FALSE(s->live.recons.empty())
      << "the reconstructions render once the test split is loaded";
  EXPECT_EQ(s->data.test_set->size(), 6);

  // Drop: decoded in the background into a bounded copy, conformed and encoded on the inference
  // thread.
  std::string photo = write_image("photo.png", 600, 1000);
  s->pending_drops.push_back(photo);
  ASSERT_TRUE(pump(*s, [&] { return s->drops.reconstructed() == 1; }));
  const DroppedImage& d = s->drops.images()[0];
  EXPECT_EQ(d.hwc.size(1), Drops::kMaxSide) << "a big image is kept scaled down, not whole";
  EXPECT_EQ(d.hwc.size(0), 154);
  EXPECT_EQ(d.input.pixels.width, 28);
  EXPECT_EQ(d.input.pixels.channels, 1);
  ASSERT_EQ(d.code.size(), 8u);
  // Its code went onto the shelf, and is what E gives for the conformed input.
  ASSERT_EQ(s->shelf.size(), 1u);
  const ShelfEntry& e = s->shelf.entries()[0];
  EXPECT_EQ(e.source, photo);
  EXPECT_EQ(e.code, d.code);
  auto x = conform_image(bounded_copy(decode_image_file(photo), Drops::kMaxSide), 28, 1)
               .to(torch::kFloat)
               .div(255.0);
  auto want = code_vector(encode_mu(*a, x.unsqueeze(0)));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(d.code[i], want[i], 1e-4);
  settle(*s);
  EXPECT_FALSE(e.thumb.empty()) << "the shelf thumbnail follows the new entry";

  // Nothing changes: no view renders again.
  uint64_t samples_v = s->live.samples.version, recon_v = d.recon.version,
           thumb_v = e.thumb.version;
  for (int i = 0; i < 20; ++i) s->update();
  EXPECT_FALSE(s->worker.busy());
  EXPECT_EQ(s->live.samples.version, samples_v);
  EXPECT_EQ(d.recon.version, recon_v);

  // Another model: the drop is encoded again and its shelf entry follows; the thumbnail too.
  auto b = model(2);
  std::vector<float> old_code = d.code;
  adopt(*s, b);
  ASSERT_TRUE(pump(*s, [&] { return s->drops.images()[0].code != old_code; }));
  settle(*s);
  const DroppedImage& d2 = s->drops.images()[0];
  EXPECT_NE(d2.recon.version, recon_v);
  EXPECT_EQ(s->shelf.size(), 1u) << "re-encoding updates the entry, it does not add one";
  EXPECT_EQ(s->shelf.entries()[0].code, d2.code);
  EXPECT_NE(s->shelf.entries()[0].thumb.version, thumb_v);
  EXPECT_NE(s->live.samples.version, samples_v);

  // Interpolation between the shelved code and a seeded random code: changing t alone re-renders.
  s->explore.set_endpoint(0, s->shelf.entries()[0].id);
  s->explore.ends[1].seed = 7;
  s->explore.t = 0.25f;
  settle(*s);
  auto za = code_tensor(d2.code), zb = seeded_normal(1, 8, 7);
  auto expect_interp = [&](float t) {
    auto img = to_pixels(decode(*b, interpolate_slerp(za, zb, t))[0]);
    EXPECT_LE(max_pixel_difference(s->explore.interp.pixels, img), 1) << "t = " << t;
  };
  expect_interp(0.25f);
  uint64_t interp_v = s->explore.interp.version, strip_v = s->explore.strip.version;
  s->explore.t = 0.75f;
  settle(*s);
  EXPECT_NE(s->explore.interp.version, interp_v);
  EXPECT_EQ(s->explore.strip.version, strip_v) << "the strip does not depend on t";
  expect_interp(0.75f);
  s->explore.strip_frames = 5;
  settle(*s);
  EXPECT_NE(s->explore.strip.version, strip_v);
  EXPECT_EQ(s->explore.strip.pixels.width, 5 * 28 + 6);

  // The shelf entry goes: the endpoint falls back to its seeded code, and the views follow.
  interp_v = s->explore.interp.version;
  s->shelf.remove(s->shelf.entries()[0].id);
  settle(*s);
  EXPECT_NE(s->explore.interp.version, interp_v);
  // Removing the drop keeps its code off the shelf.
  s->drops.remove(s->drops.images()[0].id);
  settle(*s);
  EXPECT_EQ(s->drops.size(), 0u);
  EXPECT_EQ(s->shelf.size(), 0u);
  for (const auto& m : s->messages) EXPECT_FALSE(m.error) << m.text;
}

TEST_F(ExplorerState, AttributeToggleRerendersWhatTakesAttributes) {
  auto s = make_state();
  auto m = model(3, {"shirt", "shoe", "bag"});
  adopt(*s, m);
  ASSERT_TRUE(s->attributes.active());
  EXPECT_TRUE(s->attributes.one_hot) << "class names as attributes: one class on";
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{1, 0, 0}));
  s->pending_drops.push_back(write_image("x.png", 28, 28));
  ASSERT_TRUE(pump(*s, [&] { return s->drops.reconstructed() == 1; }));
  settle(*s);
  uint64_t inspect_v = s->explore.inspect.version, recon_v = s->drops.images()[0].recon.version;
  uint64_t samples_v = s->live.samples.version;

  s->attributes.set(1, true);
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{0, 1, 0})) << "classes are exclusive";
  EXPECT_EQ(s->attributes.summary(), "shoe");
  settle(*s);
  EXPECT_NE(s->explore.inspect.version, inspect_v);
  EXPECT_NE(s->drops.images()[0].recon.version, recon_v);
  EXPECT_EQ(s->live.samples.version, samples_v) << "the sample grid draws every class, not y";
  auto want =
      to_pixels(decode(*m, code_tensor(s->explore.inspect_code), code_tensor({0, 1, 0}))[0]);
  EXPECT_LE(max_pixel_difference(s->explore.inspect.pixels, want), 1);

  s->attributes.set(1, false);  // a class model always draws one class
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{0, 1, 0}));
  EXPECT_FALSE(s->attributes.set_names("hat"));
  ASSERT_FALSE(s->messages.empty());
  EXPECT_TRUE(s->messages.back().error);

  // Edit attributes of the drop: its code into the inspector.
  s->drops.edit(s->drops.images()[0].id);
  EXPECT_EQ(s->explore.inspect_code, s->drops.images()[0].code);
  EXPECT_TRUE(s->attributes.focus);

  // The attribute sweep renders when asked, not with every model change.
  EXPECT_TRUE(s->attributes.sweep.empty());
  s->attributes.render_sweep();
  settle(*s);
  ASSERT_FALSE(s->attributes.sweep.empty());
  EXPECT_EQ(s->attributes.sweep_shown_rows, (std::vector<std::string>{"shirt", "shoe", "bag"}));
  EXPECT_EQ(s->attributes.sweep_images.size(0), 3 * 8);
}

TEST_F(ExplorerState, AFaceModelStartsFromAConsistentFaceAndItsGridShowsOthers) {
  auto s = make_state();
  auto m = model(5, celeba_attribute_names());
  CheckpointHeader h;
  h.config = m->config;  // no class names: CelebA's attributes
  s->host.adopt(m, h, "");
  ASSERT_TRUE(s->attributes.active());
  EXPECT_FALSE(s->attributes.one_hot);
  // Not all off (a beard-less woman with No_Beard off is a row the data never has).
  EXPECT_EQ(s->attributes.summary(), "Black_Hair, No_Beard");
  settle(*s);
  ASSERT_EQ(s->live.sample_rows.size(), 8u);
  EXPECT_EQ(s->live.sample_rows[0], (std::vector<std::string>{"Black_Hair", "No_Beard"}));
  EXPECT_EQ(s->live.sample_rows[1], (std::vector<std::string>{"Male", "Brown_Hair", "No_Beard"}));
  s->attributes.clear();
  EXPECT_EQ(s->attributes.summary(), "none");
}

TEST_F(ExplorerState, ADroppedImageIsEncodedWithWhatTheModelReadsInItAndEditedFromThere) {
  auto s = make_state();
  torch::manual_seed(8);
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  c.attributes = {"shirt", "shoe", "bag"};
  c.aux_classifier = true;
  auto m = std::make_shared<AliModel>(c);
  {
    torch::NoGradGuard ng;  // D's classifier reads "bag" in anything
    auto params = m->discriminator->named_parameters();
    params["aux.weight"].zero_();
    params["aux.bias"].copy_(torch::tensor({-2.0f, -1.0f, 1.0f}));
  }
  adopt(*s, m);
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{1, 0, 0}));
  s->pending_drops.push_back(write_image("x.png", 28, 28));
  ASSERT_TRUE(pump(*s, [&] { return s->drops.reconstructed() == 1; }));
  settle(*s);
  const auto& d = s->drops.images()[0];
  EXPECT_EQ(d.attributes, (std::vector<float>{0, 0, 1}));
  // Its reconstruction is G(E(x, bag), bag), not the panel's shirt.
  auto x = from_pixels(d.input.pixels).unsqueeze(0);
  auto bag = torch::tensor({{0.0f, 0.0f, 1.0f}});
  auto want = to_pixels(decode(*m, encode_mu(*m, x, bag), bag)[0]);
  EXPECT_LE(max_pixel_difference(d.recon.pixels, want), 1);
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{1, 0, 0})) << "dropping changes no toggle";
  const uint64_t recon_v = d.recon.version;
  s->attributes.set(1, true);  // the drop does not take the panel's y: nothing to re-encode
  settle(*s);
  EXPECT_EQ(s->drops.images()[0].recon.version, recon_v);
  s->drops.edit(d.id);
  EXPECT_EQ(s->attributes.values(), (std::vector<float>{0, 0, 1})) << "editing starts from its reading";
  EXPECT_EQ(s->explore.inspect_code, d.code);
  ASSERT_FALSE(s->messages.empty());
  EXPECT_NE(s->messages.back().text.find("reads as bag"), std::string::npos) << s->messages.back().text;
}

// A PNG whose header claims w x h pixels (no pixel data): what a decompression bomb starts with.
void write_png_header(const fs::path& p, uint32_t w, uint32_t h) {
  auto be = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  std::string ihdr = "IHDR" + be(w) + be(h) + std::string{8, 2, 0, 0, 0};
  uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), uInt(ihdr.size())));
  std::ofstream(p, std::ios::binary) << "\x89PNG\r\n\x1a\n" << be(13) << ihdr << be(crc);
}

TEST_F(ExplorerState, BadDropsAreMessagesNotCrashes) {
  auto s = make_state();
  adopt(*s, model(4));
  std::ofstream(dir_ / "notes.txt") << "not an image";
  write_png_header(dir_ / "huge.png", 12000, 12000);  // 432 MB decoded
  s->pending_drops = {(dir_ / "notes.txt").string(), (dir_ / "missing.png").string(),
                      (dir_ / "no-dataset").string(), (dir_ / "huge.png").string()};
  fs::create_directories(dir_ / "no-dataset");
  settle(*s);
  EXPECT_EQ(s->drops.size(), 0u);
  int errors = 0;
  bool refused_huge = false;
  for (const auto& m : s->messages) {
    errors += m.error;
    refused_huge |= m.text.find("12000x12000 pixels") != std::string::npos;
  }
  EXPECT_EQ(errors, 4);
  EXPECT_TRUE(refused_huge) << "a 144-megapixel image is refused before it is decoded";
  EXPECT_EQ(s->data.dataset, (dir_ / "data").string())
      << "an empty folder does not become the training data";
}

TEST_F(ExplorerState, DatasetDroppedBeforeAnyModelIsCheckedFirst) {
  auto s = make_state();
  fs::create_directories(dir_ / "empty");
  s->data.set_dataset((dir_ / "empty").string());
  settle(*s);
  EXPECT_EQ(s->data.dataset, (dir_ / "data").string());
  ASSERT_FALSE(s->messages.empty());
  EXPECT_TRUE(s->messages.back().error);
  s->data.set_dataset((dir_ / "data").string());
  settle(*s);
  EXPECT_FALSE(s->messages.back().error);
}

TEST_F(ExplorerState, FirstModelShowsItsOwnDataAndDataWithoutItsAttributesIsNotShown) {
  // Folders of 28x28 images in class subfolders: "clothes" (shirt, shoe), "letters" (a, b).
  auto classes = [&](const std::string& name, std::vector<std::string> cls) {
    for (const auto& c : cls) {
      fs::create_directories(dir_ / name / c);
      for (int i = 0; i < 3; ++i) save_png(dir_ / name / c / (std::to_string(i) + ".png"), torch::rand({1, 28, 28}));
    }
    return (dir_ / name).string();
  };
  auto clothes = classes("clothes", {"shirt", "shoe"}), letters = classes("letters", {"a", "b"});
  // The last session remembered the letters; no --data this time.
  fs::create_directories(dir_ / "config");
  std::ofstream(dir_ / "config" / "settings.json") << "{\"dataset\": \"" + letters + "\"}";
  Options o;
  o.config_dir = dir_ / "config";
  auto s = std::make_unique<AppState>(o);
  EXPECT_EQ(s->data.dataset, letters);
  auto m = model(7, {"shirt", "shoe"});
  m->config.dataset = clothes;  // the model's own data is here: it wins over the remembered one
  adopt(*s, m);
  ASSERT_TRUE(pump(*s, [&] { return s->data.test_set != nullptr; }));
  settle(*s);
  EXPECT_EQ(s->data.dataset, clothes);
  EXPECT_EQ(s->data.test_set->attribute_names, (std::vector<std::string>{"shirt", "shoe"}));
  EXPECT_TRUE(s->data.test_set_problem.empty());
  EXPECT_FALSE(s->live.recons.empty());
  for (const auto& msg : s->messages) EXPECT_FALSE(msg.error) << msg.text;
  // Its map is coloured by the classes (their one-hot rows are not attributes of their own).
  ASSERT_TRUE(s->map.codes.defined());
  EXPECT_FALSE(s->map.attributes.defined());
  EXPECT_TRUE(s->map.varying.empty());
  auto classes_of = s->data.test_set->labels.narrow(0, 0, s->map.codes.size(0)).contiguous();
  EXPECT_EQ(s->map.labels, std::vector<int64_t>(classes_of.data_ptr<int64_t>(),
                                                classes_of.data_ptr<int64_t>() + classes_of.numel()));
  // Letters chosen as the next run's data: kept for training, but not run through this model.
  s->data.set_dataset(letters);
  settle(*s);
  EXPECT_EQ(s->data.dataset, letters);
  EXPECT_EQ(s->data.test_set, nullptr);
  EXPECT_NE(s->data.test_set_problem.find("with its attributes (2 of them)"), std::string::npos)
      << s->data.test_set_problem;
  int errors = 0;
  for (const auto& msg : s->messages) {
    errors += msg.error;
    EXPECT_EQ(msg.text.find("shapes cannot be multiplied"), std::string::npos) << msg.text;
  }
  EXPECT_EQ(errors, 1);
  // Its own data again: shown.
  s->data.set_dataset(clothes);
  ASSERT_TRUE(pump(*s, [&] { return s->data.test_set != nullptr; }));
  EXPECT_TRUE(s->data.test_set_problem.empty());
}

TEST_F(ExplorerState, DamagedSettingsFallBackToDefaults) {
  fs::create_directories(dir_ / "config");
  std::ofstream(dir_ / "config" / "settings.json")
      << R"({"window_w": -5, "window_h": 100000, "lr": 1e9, "batch": 0, "strip_frames": 999, "slerp": false})";
  std::ofstream(dir_ / "config" / "session.json")
      << R"({"shelf": [{"name": "ok", "code": [1, 2]}, {"name": "bad", "code": "x"}, {"name": "empty", "code": []}]})";
  auto s = make_state();
  const Settings d;
  EXPECT_EQ(s->settings.window_w, d.window_w);
  EXPECT_EQ(s->settings.window_h, d.window_h);
  EXPECT_EQ(s->settings.lr, d.lr);
  EXPECT_EQ(s->settings.batch, d.batch);
  EXPECT_EQ(s->explore.strip_frames, d.strip_frames);
  EXPECT_FALSE(s->explore.slerp) << "valid values are kept";
  ASSERT_EQ(s->shelf.size(), 1u);
  EXPECT_EQ(s->shelf.entries()[0].name, "ok");
}

TEST_F(ExplorerState, HoleOnADroppedImageIsFilledAndFollowsTheModel) {
  auto s = make_state();
  auto a = model(1);
  // Statistics that fit its inputs: freshly initialised, eval-mode BatchNorm leaves G all but
  // constant in z (spread 6e-8), and a refined fill could not differ from the encoder's.
  BatchNormRefit fit;
  fit.batches = 4;
  fit.batch = 4;
  refit_batch_norm(*a, load_dataset((dir_ / "data").string(), "train", 28, 1), fit);
  adopt(*s, a);
  s->pending_drops.push_back(write_image("photo.png", 40, 40));
  ASSERT_TRUE(pump(*s, [&] { return s->drops.reconstructed() == 1; }));
  const uint64_t id = s->drops.images()[0].id;
  // A rectangle dragged from bottom-right to top-left, partly outside the image: clipped.
  s->drops.set_hole(id, Rect{30, 20, -24, -12});
  ASSERT_TRUE(s->drops.images()[0].hole.has_value());
  const Rect h = *s->drops.images()[0].hole;
  EXPECT_EQ(h.x, 6);
  EXPECT_EQ(h.y, 8);
  EXPECT_EQ(h.w, 22);
  EXPECT_EQ(h.h, 12);
  ASSERT_TRUE(pump(*s, [&] { return s->drops.inpainted() == 1; }));
  const DroppedImage& d = s->drops.images()[0];
  // Outside the hole the conformed input exactly; inside what ali::inpaint gives.
  auto x = from_pixels(d.input.pixels).unsqueeze(0);
  auto want = to_pixels(inpaint(*a, x, h)[0]);
  EXPECT_EQ(max_pixel_difference(d.filled.pixels, want), 0);
  const auto& in = d.input.pixels.pixels;
  const auto& out = d.filled.pixels.pixels;
  int outside_differs = 0, inside_differs = 0;
  for (int y = 0; y < 28; ++y)
    for (int xx = 0; xx < 28; ++xx) {
      bool inside = xx >= h.x && xx < h.x + h.w && y >= h.y && y < h.y + h.h;
      bool differs = in[size_t(y * 28 + xx)] != out[size_t(y * 28 + xx)];
      (inside ? inside_differs : outside_differs) += differs;
    }
  EXPECT_EQ(outside_differs, 0);
  EXPECT_GT(inside_differs, 0) << "the model's fill replaces the hole";

  // "refine the fill": the fill's code refined on the pixels around the hole, as ali::inpaint does.
  settle(*s);
  uint64_t unrefined = d.filled.version;
  const PixelBuffer before = d.filled.pixels;
  s->drops.set_hole_refine(id, 30);
  ASSERT_TRUE(pump(*s, [&] { return s->drops.images()[0].filled.version != unrefined; }));
  InpaintOptions refined;
  refined.refine_steps = 30;
  EXPECT_EQ(max_pixel_difference(d.filled.pixels, to_pixels(inpaint(*a, x, h, {}, refined)[0])), 0);
  EXPECT_GT(max_pixel_difference(d.filled.pixels, before), 0) << "refinement changes the fill";
  EXPECT_EQ(d.filled_refine, 30) << "the fill shown says how it was made";
  s->drops.set_hole_refine(id, 0);
  ASSERT_TRUE(pump(*s, [&] { return max_pixel_difference(s->drops.images()[0].filled.pixels, before) == 0; }));
  EXPECT_EQ(d.filled_refine, 0);

  // Another model: the fill follows it.
  settle(*s);
  uint64_t v = d.filled.version;
  adopt(*s, model(2));
  ASSERT_TRUE(pump(*s, [&] { return s->drops.images()[0].filled.version != v; }));
  // Cleared: no fill, no request.
  s->drops.set_hole(id, std::nullopt);
  EXPECT_TRUE(s->drops.images()[0].filled.empty());
  EXPECT_EQ(s->drops.inpainted_requests(), 0u);
  // A rectangle with nothing inside the image is no hole.
  s->drops.set_hole(id, Rect{40, 40, 5, 5});
  EXPECT_FALSE(s->drops.images()[0].hole.has_value());
  settle(*s);
}

TEST(SnapshotRenders, WaitForTheRenderInFlightAndASpacingOfItsTime) {
  EXPECT_FALSE(snapshot_render_due(true, 100, 0)) << "a render in flight is never superseded by a snapshot";
  EXPECT_FALSE(snapshot_render_due(false, 0.3, 0.1));
  EXPECT_TRUE(snapshot_render_due(false, 0.4, 0.1));
  EXPECT_TRUE(snapshot_render_due(false, 0, 0)) << "a view that costs nothing follows every snapshot";
}

// Training snapshots come faster than a slow view renders (four refined face fills: 1.5 s a render,
// a snapshot a second): each snapshot used to supersede the render in flight, so that none landed
// and the fill stood still for the whole run. Now every render posted lands, and the fill follows the
// newest snapshot.
TEST_F(ExplorerState, SnapshotsFasterThanASlowViewDoNotStarveIt) {
  auto s = make_state();
  auto fitted = [&](uint64_t seed) {  // statistics that fit the data, so that fills differ by model
    auto m = model(seed);
    BatchNormRefit fit;
    fit.batches = 2;
    fit.batch = 4;
    refit_batch_norm(*m, load_dataset((dir_ / "data").string(), "train", 28, 1), fit);
    return m;
  };
  adopt(*s, fitted(1));
  s->pending_drops.push_back(write_image("photo.png", 40, 40));
  ASSERT_TRUE(pump(*s, [&] { return s->drops.reconstructed() == 1; }));
  const uint64_t id = s->drops.images()[0].id;
  const Rect hole{6, 6, 14, 12};
  s->drops.set_hole(id, hole);
  s->drops.set_hole_refine(id, 200);  // a render of some 0.2 s
  ASSERT_TRUE(pump(*s, [&] { return s->drops.inpainted() == 1 && s->drops.images()[0].filled_refine == 200; }));
  settle(*s);
  const ViewStats& st = s->views.stats(ViewKind::Inpaint);
  const int posted = st.posted;
  ASSERT_EQ(st.delivered, posted);
  const uint64_t filled = s->drops.images()[0].filled.version;

  // Ten snapshots, one a frame, then frames until the fill has followed.
  std::shared_ptr<AliModel> last;
  for (uint64_t seed = 2; seed < 12; ++seed) {
    last = fitted(seed);
    CheckpointHeader h;
    h.config = last->config;
    s->host.follow(last, h, "");
    s->update();
  }
  ASSERT_TRUE(pump(*s, [&] { return s->idle() && s->drops.images()[0].filled.version != filled; }));
  settle(*s);
  EXPECT_EQ(st.delivered, st.posted) << "no render was superseded by a snapshot";
  EXPECT_GT(st.posted, posted);
  EXPECT_LT(st.posted, posted + 10) << "not a render for every snapshot";
  const DroppedImage& d = s->drops.images()[0];
  auto x = from_pixels(d.input.pixels).unsqueeze(0);
  InpaintOptions refined;
  refined.refine_steps = 200;
  EXPECT_EQ(max_pixel_difference(d.filled.pixels, to_pixels(inpaint(*last, x, hole, {}, refined)[0])), 0)
      << "the fill is the newest snapshot's";
}

TEST_F(ExplorerState, LatentMapIsLaidOutByTsneOffTheWorkerAndSwitchesToPcaAtOnce) {
  auto s = make_state();
  adopt(*s, model(1));
  LatentMap& m = s->map;
  ASSERT_EQ(m.layout(), MapLayout::Tsne);  // the default
  // Not laid out for a map nobody has looked at: its codes and PCA only.
  ASSERT_TRUE(pump(*s, [&] { return m.codes.defined(); }));
  settle(*s);
  EXPECT_FALSE(m.tsne_points.defined());
  EXPECT_TRUE(m.points.equal(m.pca_points));
  m.shown();
  ASSERT_TRUE(pump(*s, [&] { return m.tsne_points.defined() && !m.laying_out(); }));
  ASSERT_EQ(m.codes.size(0), 6);
  // What is shown is t-SNE of these codes, exactly as the core computes it.
  EXPECT_TRUE(m.points.equal(m.tsne_points));
  EXPECT_TRUE(m.tsne_points.equal(tsne(m.codes)));
  // PCA at once, and back to the t-SNE layout already made, without laying out again.
  uint64_t v = m.version;
  m.set_layout(MapLayout::Pca);
  EXPECT_TRUE(m.points.equal(m.pca_points));
  EXPECT_GT(m.version, v);
  m.set_layout(MapLayout::Tsne);
  EXPECT_FALSE(m.laying_out());
  EXPECT_TRUE(m.points.equal(m.tsne_points));
  // Encoded again (following training): the new layout goes on from the one shown.
  auto before = m.tsne_points;
  m.request();
  ASSERT_TRUE(pump(*s, [&] { return m.laying_out(); }));
  EXPECT_TRUE(m.points.equal(before));  // the last layout stays up meanwhile
  ASSERT_TRUE(pump(*s, [&] { return !m.laying_out() && !m.tsne_points.equal(before); }));
  TsneOptions o;
  o.start = before;
  o.exaggeration_iterations = 0;
  o.iterations = 300;
  EXPECT_TRUE(m.tsne_points.equal(tsne(m.codes, o)));
  // Another model: the old layout goes, and a fresh one (not continued) comes for its codes.
  adopt(*s, model(2));
  EXPECT_FALSE(m.points.defined());
  EXPECT_FALSE(m.laying_out());
  ASSERT_TRUE(pump(*s, [&] { return m.tsne_points.defined() && !m.laying_out(); }));
  EXPECT_TRUE(m.tsne_points.equal(tsne(m.codes)));
  settle(*s);
}

TEST_F(ExplorerState, LatentMapOfTooFewCodesOrOfADivergedModelSaysWhyAndKeepsRunning) {
  for (int i = 3; i < 6; ++i) fs::remove(dir_ / "data" / ("d" + std::to_string(i) + ".png"));
  auto s = make_state();
  s->map.shown();
  adopt(*s, model(1));
  LatentMap& m = s->map;
  ASSERT_TRUE(pump(*s, [&] { return m.codes.defined(); }));
  settle(*s);
  ASSERT_EQ(m.codes.size(0), 3);
  EXPECT_FALSE(m.laying_out());
  EXPECT_TRUE(m.points.equal(m.pca_points));  // PCA, and the reason t-SNE is not shown
  EXPECT_NE(m.layout_note.find("4 codes or more"), std::string::npos) << m.layout_note;
  for (const auto& msg : s->messages) EXPECT_FALSE(msg.error) << msg.text;
  // A model whose encoder diverged: its codes are NaN; the map says so and shows nothing.
  auto bad = model(2);
  {
    torch::NoGradGuard ng;
    for (auto& p : bad->encoder->parameters()) p.fill_(NAN);
  }
  adopt(*s, bad);
  ASSERT_TRUE(pump(*s, [&] {
    for (const auto& msg : s->messages)
      if (msg.error && msg.text.find("NaN") != std::string::npos) return true;
    return false;
  }));
  settle(*s);
  EXPECT_FALSE(m.points.defined());
  EXPECT_FALSE(m.laying_out());
}

TEST_F(ExplorerState, LatentMapOfAnAttributeSetIsColouredByAnAttributeAndKeepsTheChoice) {
  FaceDatasetOptions fo;
  fo.count = 200;  // 20 test faces
  fo.seed = 3;
  make_face_dataset(dir_ / "faces", fo);
  Options o;
  o.config_dir = dir_ / "config";
  o.data = (dir_ / "faces").string();
  auto s = std::make_unique<AppState>(o);
  auto model_of_faces = model(5, celeba_attribute_names());
  CheckpointHeader h;
  h.config = model_of_faces->config;  // no class names: CelebA's attributes
  s->host.adopt(model_of_faces, h, "");
  LatentMap& m = s->map;
  ASSERT_TRUE(pump(*s, [&] { return m.codes.defined(); }));
  settle(*s);
  ASSERT_TRUE(m.attributes.defined());
  ASSERT_EQ(m.attributes.size(0), m.codes.size(0));
  ASSERT_EQ(m.attribute_names, celeba_attribute_names());
  const auto& names = m.attribute_names;
  auto index = [&](const std::string& n) { return int(std::find(names.begin(), names.end(), n) - names.begin()); };
  const int male = index("Male"), smiling = index("Smiling");
  // Only attributes that vary among the points are offered; faces without classes start on Male.
  auto offered = [&](int a) { return std::find(m.varying.begin(), m.varying.end(), a) != m.varying.end(); };
  ASSERT_TRUE(offered(male));
  ASSERT_TRUE(offered(smiling));
  EXPECT_FALSE(offered(index("5_o_Clock_Shadow")));  // never on in these faces
  ASSERT_EQ(m.colour_attribute, male);
  auto column = [&](int a) {
    auto c = m.attributes.select(1, a).gt(0.5f).to(torch::kLong).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  EXPECT_EQ(m.labels, column(male));
  // A point's attributes, as its tooltip names them.
  std::vector<std::string> on;
  for (int a = 0; a < int(names.size()); ++a)
    if (m.attributes[0][a].item<float>() > 0.5f) on.push_back(names[size_t(a)]);
  ASSERT_FALSE(on.empty());
  EXPECT_EQ(m.point_attributes(0), joined(on));
  // The user's choice survives the map being encoded again (following training).
  m.colour_by(smiling);
  EXPECT_EQ(m.labels, column(smiling));
  auto codes_before = m.codes;
  m.request();
  ASSERT_TRUE(pump(*s, [&] { return !m.codes.is_same(codes_before); }));
  EXPECT_EQ(m.colour_attribute, smiling);
  EXPECT_EQ(m.labels, column(smiling));
  m.colour_by(-1);  // no classes here: uncoloured
  EXPECT_TRUE(m.labels.empty());
  settle(*s);
}

TEST_F(ExplorerState, NewModelTakesTheChosenObjective) {
  auto s = make_state();
  s->host.objective_choice.objective = "gali4";
  s->host.batch = 4;  // the test's image folder holds 6 images
  s->host.create("fmnist28");
  ASSERT_TRUE(pump(*s, [&] { return s->has_model() && !s->tasks.busy(); }));
  EXPECT_EQ(s->config().objective, "gali4");
  EXPECT_EQ(s->config().disc_outputs, 4);
  ASSERT_TRUE(s->host.pending_trainer);
  EXPECT_EQ(s->host.pending_trainer->metric_names()->size(), 4u);
  EXPECT_GT(s->host.pending_trainer->options().instance_noise, 0.0) << "as GALI was released";
  // semi needs labels; this image folder has none: a message, and the model stays.
  s->host.objective_choice.objective = "semi";
  s->host.create("fmnist28");
  ASSERT_TRUE(pump(*s, [&] { return !s->tasks.busy(); }));
  bool said = false;
  for (const auto& m : s->messages) said |= m.error && m.text.find("labels") != std::string::npos;
  EXPECT_TRUE(said);
  EXPECT_EQ(s->config().objective, "gali4");
}

TEST(ProbabilityCurves, OneCurvePerTrueClassForKWayObjectives) {
  auto ali = probability_curves({"p_real", "p_fake", "rec"});
  ASSERT_EQ(ali.size(), 2u);
  EXPECT_EQ(ali[0].label, "D(x,E(x))");
  EXPECT_EQ(ali[1].label, "D(G(z),z)");
  std::vector<std::string> gali8;
  for (int i = 0; i < 8; ++i) gali8.push_back("p_class" + std::to_string(i));
  auto g = probability_curves(gali8);
  ASSERT_EQ(g.size(), 8u);
  EXPECT_EQ(g[7].metric, "p_class7");
  EXPECT_EQ(g[7].label, "class 7");
  auto semi = probability_curves({"loss_lab", "acc_lab", "p_real_unl", "p_real_gen"});
  ASSERT_EQ(semi.size(), 3u);
  EXPECT_EQ(semi[0].metric, "acc_lab");
}

TEST(BoundedCopy, KeepsSmallImagesAndAspect) {
  auto small = torch::randint(0, 255, {30, 40, 3}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(bounded_copy(small, 256), small));
  auto big = torch::full({2000, 500, 1}, 200, torch::kUInt8);
  auto b = bounded_copy(big, 256);
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{256, 64, 1}));
  EXPECT_EQ(b.min().item<int>(), 200);
  EXPECT_EQ(b.max().item<int>(), 200);
}

}  // namespace

TEST_F(ExplorerState, FileBrowserListsWhatThePurposeTakesAndChosenImagesAreAddedAndRemembered) {
  fs::create_directories(dir_ / "pics" / "sub");
  std::ofstream(dir_ / "pics" / "model.ali") << "x";
  std::ofstream(dir_ / "pics" / "OLD.ALI") << "x";  // a checkpoint's name in any case
  std::ofstream(dir_ / "pics" / "notes.txt") << "x";
  std::ofstream(dir_ / "pics" / ".hidden.png") << "x";
  write_image("pics/a.png", 20, 30);
  write_image("pics/b.png", 24, 24);
  auto s = make_state();
  adopt(*s, model(5));
  FileBrowser& b = s->browser;
  b.open(BrowsePurpose::OpenModel, dir_ / "pics" / "a.png");  // a file: its folder
  EXPECT_EQ(b.dir(), fs::absolute(dir_ / "pics").lexically_normal());
  auto names = [&] {
    std::vector<std::string> v;
    for (const auto& e : b.entries()) v.push_back((e.folder ? "/" : "") + e.name);
    return v;
  };
  EXPECT_EQ(names(), (std::vector<std::string>{"/sub", "model.ali", "OLD.ALI"}));
  b.open(BrowsePurpose::AddImages, dir_ / "pics");
  EXPECT_EQ(names(), (std::vector<std::string>{"/sub", "a.png", "b.png"}));
  b.set_show_all(true);
  EXPECT_EQ(names(), (std::vector<std::string>{"/sub", "a.png", "b.png", "model.ali", "notes.txt", "OLD.ALI"}));
  b.set_show_all(false);
  b.click("sub");  // a folder is entered
  EXPECT_EQ(b.dir().filename(), "sub");
  EXPECT_TRUE(b.up());
  EXPECT_FALSE(b.go(dir_ / "no-such-folder"));  // an error, the listing kept
  EXPECT_FALSE(b.error().empty());
  EXPECT_EQ(b.dir().filename(), "pics");
  b.click("a.png");
  b.click("b.png");
  b.click("b.png");  // toggled off again
  EXPECT_EQ(b.selected().size(), 1u);
  b.click("b.png");
  ASSERT_EQ(b.selected().size(), 2u);
  auto chosen = b.take();
  EXPECT_FALSE(b.is_open());
  s->chosen(BrowsePurpose::AddImages, chosen);
  settle(*s);
  EXPECT_EQ(s->drops.size(), 2u);
  EXPECT_EQ(s->drops.reconstructed(), 2u);
  // Both remembered; within one choice their order is the order their decoding finished in (the
  // ASan build once finished a.png last).
  ASSERT_EQ(s->settings.recent_images.size(), 2u);
  std::set<std::string> remembered;
  for (const auto& r : s->settings.recent_images) remembered.insert(fs::path(r).filename().string());
  EXPECT_EQ(remembered, (std::set<std::string>{"a.png", "b.png"}));
  // Remembered across runs.
  s->persist();
  s.reset();
  auto again = make_state();
  EXPECT_EQ(again->settings.recent_images.size(), 2u);
}

// The desktop's own dialog: a zenity on PATH (here a script that records its arguments and answers
// with two pictures) is asked with the purpose's title and filter, off the UI thread, and what it
// answers is added as the in-window browser's choice is; a cancelled dialog (zenity exits 1) adds
// nothing; ALI_FILE_DIALOG=builtin opens the in-window browser instead.
TEST_F(ExplorerState, DesktopDialogAnswersAreAddedAndACancelledOneAddsNothing) {
  const std::string a = write_image("a.png", 20, 20), b = write_image("b.png", 24, 24);
  fs::create_directories(dir_ / "bin");
  const fs::path args = dir_ / "args.txt", cancel = dir_ / "cancel";
  {
    std::ofstream f(dir_ / "bin" / "zenity");
    f << "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" << args.string() << "'\n"
      << "[ -f '" << cancel.string() << "' ] && exit 1\n"
      << "printf '%s\\n%s\\n' '" << a << "' '" << b << "'\n";
  }
  fs::permissions(dir_ / "bin" / "zenity", fs::perms::owner_all);
  auto read_text = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  struct Env {  // PATH and ALI_FILE_DIALOG for this test only
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    ~Env() {
      ::setenv("PATH", path.c_str(), 1);
      ::unsetenv("ALI_FILE_DIALOG");
    }
  } env;
  ::setenv("PATH", ((dir_ / "bin").string() + ":" + env.path).c_str(), 1);
  ::unsetenv("ALI_FILE_DIALOG");
  auto s = make_state();
  adopt(*s, model(5));
  s->browse(BrowsePurpose::AddImages);
  ASSERT_TRUE(pump(*s, [&] { return s->drops.size() == 2; }));
  settle(*s);
  EXPECT_EQ(s->drops.reconstructed(), 2u);
  EXPECT_FALSE(s->browser.is_open());
  std::string asked = read_text(args);
  EXPECT_NE(asked.find("--file-selection\n"), std::string::npos) << asked;
  EXPECT_NE(asked.find("--title=Add images\n"), std::string::npos) << asked;
  EXPECT_NE(asked.find("--multiple\n"), std::string::npos) << asked;
  EXPECT_NE(asked.find("--file-filter=Images | *.png"), std::string::npos) << asked;
  // Cancelled: nothing is added and nothing is reported.
  std::ofstream(cancel) << "";
  const size_t messages = s->messages.size();
  s->browse(BrowsePurpose::AddImages);
  ASSERT_TRUE(pump(*s, [&] { return !s->tasks.busy(); }));
  settle(*s);
  EXPECT_EQ(s->drops.size(), 2u);
  EXPECT_EQ(s->messages.size(), messages);
  // Open model asks for models.
  s->browse(BrowsePurpose::OpenModel);
  ASSERT_TRUE(pump(*s, [&] { return !s->tasks.busy(); }));
  asked = read_text(args);
  EXPECT_NE(asked.find("--title=Open model\n"), std::string::npos) << asked;
  EXPECT_NE(asked.find("--file-filter=ALI models | *.ali"), std::string::npos) << asked;
  EXPECT_EQ(asked.find("--multiple"), std::string::npos) << asked;
  // The in-window browser when asked for.
  ::setenv("ALI_FILE_DIALOG", "builtin", 1);
  s->browse(BrowsePurpose::AddImages);
  EXPECT_TRUE(s->browser.is_open());
}

TEST_F(ExplorerState, DroppedPhotosAreConformedAndRefinementReplacesTheirCodeUntilDropped) {
  // A dark square on white: conformed light on black, so it is encoded negated.
  auto photo = torch::full({3, 60, 80}, 0.95f);
  photo.narrow(1, 10, 30).narrow(2, 20, 30).fill_(0.05f);
  save_png(dir_ / "photo.png", photo);
  auto s = make_state();
  auto m = model(6);
  m->config.dataset = "fashion-mnist";
  adopt(*s, m);
  s->pending_drops = {(dir_ / "photo.png").string()};
  settle(*s);
  ASSERT_EQ(s->drops.size(), 1u);
  const DroppedImage& d = s->drops.images().front();
  EXPECT_EQ(d.framing, "object");
  EXPECT_TRUE(d.inverted);
  auto encoder_code = d.code;
  s->drops.refine(d.id, 30);
  EXPECT_TRUE(s->drops.refining());
  settle(*s);
  EXPECT_FALSE(s->drops.refining());
  EXPECT_EQ(s->drops.refined(), 1u);
  EXPECT_EQ(d.refine_done, 30);
  EXPECT_GE(d.refine_mse.size(), 2u);
  EXPECT_FALSE(d.refined_recon.empty());
  EXPECT_NE(d.refined, encoder_code);
  ASSERT_EQ(s->shelf.size(), 1u);
  EXPECT_EQ(s->shelf.find_source(d.path)->code, d.refined) << "the refined code stands for the image";
  // New overrides re-encode at once and drop the refinement (it was for the old input).
  ConformOptions o = d.conform;
  o.invert = Toggle::Off;
  s->drops.set_conform(d.id, o);
  settle(*s);
  EXPECT_FALSE(d.inverted);
  EXPECT_TRUE(d.refined.empty());
  EXPECT_EQ(s->shelf.find_source(d.path)->code, d.code);
}

TEST(RunLog, TakesCompleteRowsRepeatsAfterAResumeAndSkipsBadRows) {
  RunLog log;
  log.feed("step,wall_s,loss_d,loss_g,p_real,p_fake\n1,0.1,1.3,0.7,0.5,0.5\n2,0.2,1.2,0.8,0.6,0.4\n3,0.3,1.");
  ASSERT_TRUE(log.has_header());
  ASSERT_EQ(log.rows().size(), 2u);  // the incomplete third row waits
  EXPECT_EQ(log.last_step(), 2);
  EXPECT_DOUBLE_EQ(log.rows()[1].g_loss, 0.8);
  ASSERT_TRUE(log.rows()[1].metric_names);
  EXPECT_DOUBLE_EQ(log.rows()[1].metric("p_fake"), 0.4);
  std::string whole = "step,wall_s,loss_d,loss_g,p_real,p_fake\n1,0.1,1.3,0.7,0.5,0.5\n2,0.2,1.2,0.8,0.6,0.4\n";
  EXPECT_EQ(log.offset(), whole.size());
  log.feed("3,0.3,1.1,0.9,0.7,0.3\n4,0.4,1.0,1.0\nbad,row,x,y,z,w\n5,0.5,1,1,nan,0.5\n");
  EXPECT_EQ(log.bad_rows(), 2);  // a short row and one whose step is no number
  EXPECT_EQ(log.last_step(), 5);
  EXPECT_TRUE(std::isnan(log.rows().back().metric("p_real")));  // a metric may be NaN
  EXPECT_NEAR(log.steps_per_second(), 10.0, 1e-9);
  // A resumed run writes again from its checkpoint's step: the rows from there are replaced.
  log.feed("4,0.05,2,2,0.5,0.5\n");
  ASSERT_EQ(log.rows().size(), 4u);
  EXPECT_EQ(log.last_step(), 4);
  EXPECT_DOUBLE_EQ(log.rows().back().d_loss, 2.0);
  // A file that does not start with the header is no log: nothing is taken.
  RunLog other;
  other.feed("hello\n1,2,3,4\n");
  EXPECT_FALSE(other.has_header());
  EXPECT_TRUE(other.rows().empty());
  // Long logs are thinned, newest rows kept.
  RunLog big;
  big.limit = 100;
  std::string text = "step,wall_s,loss_d,loss_g\n";
  for (int i = 1; i <= 1000; ++i) text += std::to_string(i) + "," + std::to_string(i * 0.01) + ",1,1\n";
  big.feed(text);
  EXPECT_LE(big.rows().size(), 100u);
  EXPECT_EQ(big.last_step(), 1000);
  EXPECT_EQ(big.rows()[big.rows().size() - 2].step, 999);
}

TEST_F(ExplorerState, WatchedRunFollowsItsLogAndCheckpointsAndWritesNothingThere) {
  // A run folder as `ali train --out` writes it, by a trainer of this test's own.
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  ModelConfig c;
  c.arch = "fmnist28";
  c.nlat = 8;
  TrainOptions o;
  o.batch = 3;
  Trainer t(c.resolved(), o, torch::kCPU);
  t.set_data(std::make_shared<const ImageSet>(load_dataset((dir_ / "data").string(), "train", 28, 1)));
  std::string header = "step,wall_s,loss_d,loss_g";
  for (const auto& m : *t.metric_names()) header += "," + m;
  std::ofstream log(run / "log.csv");
  log << header << "\n";
  auto row = [&](const StepStats& st) {
    log << st.step << "," << 0.1 * double(st.step) << "," << st.d_loss << "," << st.g_loss;
    for (double v : st.metrics) log << "," << v;
    log << "\n" << std::flush;
  };
  row(t.step());
  row(t.step());
  t.save(run / "checkpoint.ali");

  auto s = make_state();
  s->watch.interval = 0;  // look at every update
  EXPECT_FALSE(s->watch.watch(dir_ / "data"));  // no run folder: an error, nothing watched
  EXPECT_FALSE(s->watch.active());
  ASSERT_TRUE(s->messages.back().error);
  ASSERT_TRUE(s->watch.watch(run));
  ASSERT_TRUE(pump(*s, [&] { return s->watch.checkpoints_loaded() == 1 && s->watch.log().last_step() == 2; }));
  EXPECT_TRUE(s->has_model());
  EXPECT_EQ(s->step(), 2);
  EXPECT_EQ(s->host.path, (run / "checkpoint.ali").string());
  EXPECT_EQ(s->host.history.size(), 2u);  // the Train panel's curves
  EXPECT_NE(s->watch.status().find("checkpoint step 2"), std::string::npos);
  settle(*s);
  const auto adoptions = s->host.adoptions;
  const auto version = s->host.version;

  // The run goes on: rows (the last one half written) and a newer checkpoint (atomically replaced).
  row(t.step());
  log << "4,0.4,1.0" << std::flush;
  t.step();
  t.save(run / "checkpoint.ali");
  ASSERT_TRUE(pump(*s, [&] { return s->watch.checkpoints_loaded() == 2; }));
  EXPECT_EQ(s->step(), 4);
  EXPECT_EQ(s->host.adoptions, adoptions);  // a later state of the same model: followed, not adopted
  EXPECT_GT(s->host.version, version);      // so every view re-renders
  ASSERT_TRUE(pump(*s, [&] { return s->watch.log().last_step() == 3; }));
  log << ",1.0";
  for (size_t i = 0; i < t.metric_names()->size(); ++i) log << ",0.5";
  log << "\n" << std::flush;
  ASSERT_TRUE(pump(*s, [&] { return s->watch.log().last_step() == 4; }));
  EXPECT_EQ(s->host.history.size(), 4u);

  // A damaged checkpoint is an error in the window; the model loaded before stays.
  std::ofstream(run / "checkpoint.ali.tmp") << "ALI not really";
  fs::rename(run / "checkpoint.ali.tmp", run / "checkpoint.ali");
  const size_t errors_before = std::count_if(s->messages.begin(), s->messages.end(), [](auto& m) { return m.error; });
  ASSERT_TRUE(pump(*s, [&] {
    return size_t(std::count_if(s->messages.begin(), s->messages.end(), [](auto& m) { return m.error; })) >
           errors_before;
  }));
  EXPECT_NE(s->messages.back().text.find("watched run"), std::string::npos);
  settle(*s);
  EXPECT_EQ(s->step(), 4);
  EXPECT_TRUE(s->has_model());
  EXPECT_EQ(s->watch.checkpoints_loaded(), 2);

  // Nothing was written into the folder: the same two files, as the test last wrote them.
  log.close();
  t.save(run / "checkpoint.ali");
  auto listing = [&] {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(run))
      v.push_back(e.path().filename().string() + " " + std::to_string(fs::file_size(e.path())) + " " +
                  std::to_string(fs::last_write_time(e.path()).time_since_epoch().count()));
    std::sort(v.begin(), v.end());
    return v;
  };
  const auto before = listing();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_TRUE(pump(*s, [&] { return s->watch.checkpoints_loaded() == 3; }));
  settle(*s);
  EXPECT_EQ(listing(), before);

  // Opening another model ends the watch.
  const fs::path other = dir_ / "other.ali";
  t.save(other);
  s->host.open(other.string());
  EXPECT_FALSE(s->watch.active());
  settle(*s);
  EXPECT_EQ(s->host.path, other.string());
}

TEST_F(ExplorerState, ARunFolderDroppedOrBrowsedIsWatched) {
  const fs::path run = dir_ / "runs" / "a";
  fs::create_directories(run);
  std::ofstream(run / "log.csv") << "step,wall_s,loss_d,loss_g\n1,0.1,1,1\n";
  fs::create_directories(dir_ / "runs" / "plain");
  auto s = make_state();
  s->watch.interval = 0;
  s->drops.handle({run.string()});
  EXPECT_TRUE(s->watch.active());
  ASSERT_TRUE(pump(*s, [&] { return s->watch.log().last_step() == 1; }));
  EXPECT_NE(s->watch.status().find("checkpoint not yet written"), std::string::npos);
  s->watch.stop();
  s->drops.handle({(run / "log.csv").string()});  // the log itself: its folder
  EXPECT_EQ(s->watch.folder(), fs::absolute(run).lexically_normal());
  s->watch.stop();
  // The in-window browser lists folders, marks run folders, and takes the folder it shows.
  FileBrowser& b = s->browser;
  b.open(BrowsePurpose::WatchRun, dir_ / "runs");
  ASSERT_EQ(b.entries().size(), 2u);
  EXPECT_TRUE(b.entries()[0].run);   // a
  EXPECT_FALSE(b.entries()[1].run);  // plain
  EXPECT_FALSE(b.can_take());
  b.click("a");
  ASSERT_TRUE(b.can_take());
  s->chosen(BrowsePurpose::WatchRun, b.take());
  EXPECT_TRUE(s->watch.active());
  settle(*s);
}
