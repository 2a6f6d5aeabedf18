#include "drops.h"

#include <filesystem>

#include "ali/checkpoint.h"
#include "ali/evaluation.h"
#include "ali/image_io.h"
#include "ali/refine.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
struct Encoded {
  std::vector<uint64_t> ids;
  std::vector<PixelBuffer> inputs, recons;
  std::vector<Conformed> conformed;  // framing, inversion and warning (image dropped)
  torch::Tensor codes;
  torch::Tensor read;  // the attributes read in each image, when the model reads them
};

// The panel's y as far as drops depend on it: not at all for a model that reads their own.
std::vector<float> panel_y(const AppState& s) {
  return s.config().reads_attributes() ? std::vector<float>{} : s.attributes.values();
}

// A drop's y: what the model read in it, else the Attributes panel's (1 x K, or undefined).
torch::Tensor drop_attributes(const ModelConfig& c, const std::vector<float>& read, const torch::Tensor& panel) {
  if (!read.empty() && int64_t(read.size()) == int64_t(c.attributes.size()))
    return code_tensor(read).view({1, -1});
  return attribute_rows(c, panel, 1);
}
struct Refined {
  uint64_t id = 0, round = 0;
  int steps = 0;
  std::vector<float> code;
  RefineMoments moments;
  PixelBuffer recon;
  std::vector<double> mse;  // before the chunk, then after it
  int64_t step = -1;
};
struct Filled {
  std::vector<uint64_t> ids;
  std::vector<PixelBuffer> images;
  std::vector<int> refine_steps;  // each fill's refinement (0: none)
};

// Refinement runs in chunks of this many steps: the card shows the reconstruction converge.
constexpr int kRefineChunk = 25;
}  // namespace

// E(x, y) and G(mu, y), y what a model that reads attributes reads in each image, else the Attributes
// panel's: what "Edit attributes" starts from. The images are conformed to the model's input here,
// on the inference thread, not on the UI thread.
class DroppedView : public View<std::tuple<uint64_t, std::vector<float>>, Encoded> {
 public:
  explicit DroppedView(Drops& drops) : View(ViewKind::Dropped), drops_(drops) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || drops_.images_.empty()) return std::nullopt;
    return Key{drops_.version_, panel_y(s)};
  }
  Job request(AppState& s, const Key&) override {
    std::vector<std::pair<torch::Tensor, ConformOptions>> inputs;
    std::vector<uint64_t> ids;
    for (const auto& d : drops_.images_) {
      inputs.emplace_back(d.hwc, d.conform);
      ids.push_back(d.id);
    }
    auto y1 = s.attributes.row();
    return [inputs, ids, y1](AliModel& m, Encoded& out) {
      std::vector<torch::Tensor> xs;
      for (const auto& [hwc, options] : inputs) {
        out.conformed.push_back(conform(hwc, m.config, options));
        xs.push_back(out.conformed.back().image);
        out.conformed.back().image = torch::Tensor();
      }
      auto x = torch::stack(xs);
      const bool reads = m.config.reads_attributes();
      auto y = reads ? read_attributes(m, x) : attribute_rows(m.config, y1, x.size(0));
      if (reads) out.read = y;
      auto mu = encode_mu(m, x, y);
      auto r = decode(m, mu, y);
      for (int64_t i = 0; i < r.size(0); ++i) {
        out.inputs.push_back(to_pixels(x[i]));
        out.recons.push_back(to_pixels(r[i]));
      }
      out.codes = mu;
      out.ids = ids;
    };
  }
  void complete(AppState& s, Encoded&& r) override {
    for (size_t i = 0; i < r.ids.size(); ++i)
      for (auto& d : drops_.images_) {
        if (d.id != r.ids[i]) continue;
        if (d.input.pixels.pixels != r.inputs[i].pixels) d.input.set(std::move(r.inputs[i]));
        d.recon.set(std::move(r.recons[i]));
        d.code = code_vector(r.codes[int64_t(i)]);
        d.attributes = r.read.defined() ? code_vector(r.read[int64_t(i)]) : std::vector<float>{};
        if (!r.conformed[i].warning.empty() && r.conformed[i].warning != d.warning)
          s.info(d.name + ": " + r.conformed[i].warning);
        d.warning = r.conformed[i].warning;
        d.inverted = r.conformed[i].inverted;
        d.framing = r.conformed[i].framing;
        if (!d.refined.empty() && d.refined.size() != d.code.size()) drops_.drop_refinement(d.id);
        // Shelf entries of dropped images follow the model: re-encoded with every snapshot (a
        // refined code stands until it is refined again or dropped).
        if (const ShelfEntry* e = s.shelf.find_source(d.path))
          s.shelf.set_code(e->id, d.best_code());
        else if (!d.shelved)
          s.shelf.add(d.name, d.best_code(), d.path);
        d.shelved = true;
      }
  }
  Drops& drops_;
};

// The holes drawn on dropped images, filled by the model (ali::inpaint) with the Attributes panel's
// y; re-rendered while a hole is dragged and with every training snapshot.
class InpaintView : public View<std::tuple<uint64_t, uint64_t, std::vector<float>>, Filled> {
 public:
  explicit InpaintView(Drops& drops) : View(ViewKind::Inpaint), drops_(drops) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || drops_.inpainted_requests() == 0) return std::nullopt;
    return Key{drops_.version_, drops_.holes_version_, panel_y(s)};
  }
  Job request(AppState& s, const Key&) override {
    std::vector<std::tuple<uint64_t, torch::Tensor, ConformOptions, Rect, std::vector<float>, int>> work;
    for (const auto& d : drops_.images_)
      if (d.hole) work.emplace_back(d.id, d.hwc, d.conform, *d.hole, d.attributes, d.hole_refine);
    auto y1 = s.attributes.row();
    return [work, y1](AliModel& m, Filled& out) {
      for (const auto& [id, hwc, options, hole, read, refine_steps] : work) {
        auto x = conform(hwc, m.config, options).image.unsqueeze(0);
        auto hole_in = clip_hole(hole, m.config.image_size);
        if (!hole_in) continue;  // a hole drawn for a bigger model
        InpaintOptions o;
        o.refine_steps = refine_steps;
        auto filled = inpaint(m, x, *hole_in, drop_attributes(m.config, read, y1), o);
        out.ids.push_back(id);
        out.images.push_back(to_pixels(filled[0]));
        out.refine_steps.push_back(refine_steps);
      }
    };
  }
  void complete(AppState&, Filled&& r) override {
    for (size_t i = 0; i < r.ids.size(); ++i)
      for (auto& d : drops_.images_)
        if (d.id == r.ids[i] && d.hole) {
          d.filled.set(std::move(r.images[i]));
          d.filled_refine = r.refine_steps[i];
        }
  }
  Drops& drops_;
};

// One chunk of the first pending refinement: from E(x) on its first chunk, else from the code so far
// (Adam starts afresh each chunk); re-posted by complete() until the steps asked for are done.
class RefineView : public View<uint64_t, Refined> {
 public:
  explicit RefineView(Drops& drops) : View(ViewKind::Refine), drops_(drops) {}

 private:
  bool follows_model() const override { return false; }  // a snapshot mid-way changes nothing
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || !drops_.refining()) return std::nullopt;
    return drops_.refine_version_;
  }
  Job request(AppState& s, const Key& round) override {
    const DroppedImage* d = nullptr;
    for (const auto& img : drops_.images_)
      if (img.refining()) {
        d = &img;
        break;
      }
    uint64_t id = d->id;
    torch::Tensor hwc = d->hwc;
    ConformOptions options = d->conform;
    std::vector<float> start = d->refine_done > 0 ? d->refined : std::vector<float>{};
    RefineMoments moments = d->refine_done > 0 ? d->refine_moments : RefineMoments{};  // as `start`
    int steps = std::min(kRefineChunk, d->refine_target - d->refine_done);
    auto y1 = s.attributes.row();
    std::vector<float> read = d->attributes;
    int64_t step = s.step();
    return [id, round, hwc, options, start, moments, steps, y1, read, step, cache = features_](AliModel& m,
                                                                                               Refined& out) {
      auto x = conform(hwc, m.config, options).image.unsqueeze(0);
      auto y = drop_attributes(m.config, read, y1);
      auto z0 = start.empty() ? encode_mu(m, x, y)
                              : torch::tensor(start).view({1, int64_t(start.size())});
      RefineOptions o;
      o.steps = steps;
      o.resume = moments;  // one descent over the chunks, as `ali encode --refine` runs it
      auto r = refine_codes(m, x, z0, y, o, cache->get(m.config));
      out.id = id;
      out.round = round;
      out.steps = steps;
      out.moments = r.moments;
      out.code = code_vector(r.z[0]);
      out.recon = to_pixels(decode(m, r.z, y)[0]);
      out.mse = {r.mse.front(), r.mse.back()};
      out.step = step;
    };
  }
  void complete(AppState& s, Refined&& r) override {
    for (auto& d : drops_.images_) {
      if (d.id != r.id || !d.refining()) continue;
      if (d.refine_mse.empty()) d.refine_mse.push_back(r.mse.front());
      d.refine_mse.push_back(r.mse.back());
      d.refined = std::move(r.code);
      d.refine_moments = std::move(r.moments);
      d.refined_recon.set(std::move(r.recon));
      d.refine_done += r.steps;
      d.refined_at_step = r.step;
      if (!d.refining()) {
        if (const ShelfEntry* e = s.shelf.find_source(d.path)) s.shelf.set_code(e->id, d.refined);
        char text[160];
        std::snprintf(text, sizeof text, "%s refined in %d steps: pixel MSE %.4f -> %.4f",
                      d.name.c_str(), d.refine_done, d.refine_mse.front(), d.refine_mse.back());
        s.info(text);
      }
    }
    ++drops_.refine_version_;  // the next chunk (or the next image's)
  }
  void failed(AppState& s, const std::string& error) override {
    for (auto& d : drops_.images_)
      if (d.refining()) d.refine_target = d.refine_done;  // stop: no retry loop on an error
    report(s, error);
  }
  // The feature network, loaded once per classifier file instead of for every chunk. Touched only by
  // the jobs, which run one at a time on the worker thread.
  struct FeatureCache {
    std::string key;
    FeatureFn fn;
    const FeatureFn& get(const ModelConfig& c) {
      auto path = default_classifier_path(c.dataset, c.image_channels, c.image_size);
      std::error_code ec;
      std::string k = path.string() + (fs::exists(path, ec) ? "" : " (none)");
      if (k != key) {
        fn = evaluation_features(c);
        key = k;
      }
      return fn;
    }
  };
  Drops& drops_;
  std::shared_ptr<FeatureCache> features_ = std::make_shared<FeatureCache>();
};

std::optional<Rect> clip_hole(const Rect& r, int64_t size) {
  int64_t x0 = std::clamp<int64_t>(std::min(r.x, r.x + r.w), 0, size),
          x1 = std::clamp<int64_t>(std::max(r.x, r.x + r.w), 0, size),
          y0 = std::clamp<int64_t>(std::min(r.y, r.y + r.h), 0, size),
          y1 = std::clamp<int64_t>(std::max(r.y, r.y + r.h), 0, size);
  if (x1 <= x0 || y1 <= y0) return std::nullopt;
  return Rect{x0, y0, x1 - x0, y1 - y0};
}

torch::Tensor bounded_copy(const torch::Tensor& hwc, int max_side) {
  int64_t h = hwc.size(0), w = hwc.size(1);
  if (std::max(h, w) <= max_side) return hwc.clone();
  double f = double(max_side) / double(std::max(h, w));
  int64_t nh = std::max<int64_t>(1, std::llround(double(h) * f)),
          nw = std::max<int64_t>(1, std::llround(double(w) * f));
  auto x = hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat);
  x = torch::adaptive_avg_pool2d(x, {nh, nw});
  return x.squeeze(0).permute({1, 2, 0}).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

Drops::Drops(AppState& app) : app_(app) {
  app.views.add<DroppedView>(*this);
  app.views.add<InpaintView>(*this);
  app.views.add<RefineView>(*this);
}

void Drops::set_conform(uint64_t id, const ConformOptions& o) {
  for (auto& d : images_) {
    if (d.id != id) continue;
    d.conform = o;
    drop_refinement(id);
    ++version_;
  }
}

void Drops::refine(uint64_t id, int steps) {
  for (auto& d : images_) {
    if (d.id != id) continue;
    d.refine_done = 0;
    d.refine_target = std::max(1, steps);
    d.refine_mse.clear();
    ++refine_version_;
  }
}

void Drops::drop_refinement(uint64_t id) {
  for (auto& d : images_) {
    if (d.id != id) continue;
    d.refined.clear();
    d.refined_recon.clear();
    d.refine_done = d.refine_target = 0;
    d.refine_mse.clear();
    d.refined_at_step = -1;
    if (const ShelfEntry* e = app_.shelf.find_source(d.path); e && !d.code.empty())
      app_.shelf.set_code(e->id, d.code);
    ++refine_version_;
  }
}

size_t Drops::refined() const {
  size_t n = 0;
  for (const auto& d : images_) n += !d.refined.empty() && !d.refining();
  return n;
}

size_t Drops::refine_requests() const {
  size_t n = 0;
  for (const auto& d : images_) n += d.refine_target > 0;
  return n;
}

bool Drops::refining() const {
  for (const auto& d : images_)
    if (d.refining()) return true;
  return false;
}

size_t Drops::reconstructed() const {
  size_t n = 0;
  for (const auto& d : images_) n += !d.recon.empty();
  return n;
}

size_t Drops::inpainted() const {
  size_t n = 0;
  for (const auto& d : images_) n += d.hole && !d.filled.empty();
  return n;
}

size_t Drops::inpainted_requests() const {
  size_t n = 0;
  for (const auto& d : images_) n += d.hole.has_value();
  return n;
}

void Drops::set_hole(uint64_t id, std::optional<Rect> hole) {
  if (hole && app_.has_model()) hole = clip_hole(*hole, app_.config().image_size);
  for (auto& d : images_) {
    if (d.id != id) continue;
    bool same = hole.has_value() == d.hole.has_value() &&
                (!hole || (hole->x == d.hole->x && hole->y == d.hole->y && hole->w == d.hole->w &&
                           hole->h == d.hole->h));
    if (same) return;
    d.hole = hole;
    if (!hole) {
      d.filled.clear();
      d.filled_refine = 0;
    }
    ++holes_version_;
  }
}

void Drops::set_hole_refine(uint64_t id, int steps) {
  steps = std::max(0, steps);
  for (auto& d : images_)
    if (d.id == id && d.hole_refine != steps) {
      d.hole_refine = steps;
      ++holes_version_;
    }
}

void Drops::handle(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      app_.error(p + ": no such file or folder");
      continue;
    }
    if (is_run_folder(p)) {  // `ali train --out` writes log.csv and checkpoint.ali: follow it live
      app_.watch.watch(p);
      continue;
    }
    if (fs::is_directory(p, ec)) {
      app_.data.set_dataset(p);  // a dataset folder: IDX files or images, checked in the background
      continue;
    }
    if (fs::path(p).filename() == "log.csv") {  // a run's log: watch its folder
      app_.watch.watch(fs::path(p).parent_path());
      continue;
    }
    // Named .ali but unreadable: the checkpoint loader's own error ("not an ALI checkpoint",
    // "truncated") says more than an image decoder's would.
    if (looks_like_checkpoint(p) || has_checkpoint_extension(p)) {
      app_.host.open(p);
      continue;
    }
    if (images_.size() + decoding_ >= kMaxImages) {
      app_.error("at most " + std::to_string(kMaxImages) + " dropped images; remove some first");
      break;
    }
    ++decoding_;
    app_.tasks.run("image", [p]() -> Apply {
      torch::Tensor hwc;
      std::string failed;
      try {
        hwc = bounded_copy(decode_image_file(p), kMaxSide);
      } catch (const std::bad_alloc&) {
        failed = "not enough memory to decode it";
      } catch (const std::exception& e) {
        failed = describe_exception(e);
      }
      return [p, hwc, failed](AppState& s) {
        --s.drops.decoding_;
        if (!failed.empty())
          return s.error(
              p + ": dropped file is not a checkpoint, an image or a dataset folder: " + failed);
        s.drops.add(p, hwc);
      };
    });
  }
}

void Drops::add(const std::string& path, torch::Tensor hwc) {
  DroppedImage d;
  d.id = app_.next_id();
  d.path = path;
  d.name = fs::path(path).stem().string();
  d.hwc = bounded_copy(hwc, kMaxSide);
  d.original.set(to_pixels(d.hwc.permute({2, 0, 1}).to(torch::kFloat).div(255.0)));
  if (app_.options.raw) d.conform.raw = true;
  app_.settings.add_recent_image(path);
  const uint64_t id = d.id;
  images_.push_back(std::move(d));
  ++version_;
  // (An --inpaint outside the model's image is reported once, when the first model is adopted.)
  if (!app_.options.inpaint.empty()) set_hole(id, parse_rect(app_.options.inpaint));
  if (app_.options.inpaint_refine > 0) set_hole_refine(id, app_.options.inpaint_refine);
  if (!app_.options.crop.empty()) {  // as a rectangle dragged on the picture (encode panel)
    const DroppedImage& added = images_.back();
    const int64_t w = added.hwc.size(1), h = added.hwc.size(0);
    Rect r = parse_rect(app_.options.crop);
    if (r.x >= w || r.y >= h || r.x + r.w <= 0 || r.y + r.h <= 0) {
      app_.error("--crop " + app_.options.crop + " lies outside " + added.name + " (" + std::to_string(w) + " x " +
                 std::to_string(h) + " as kept): framed automatically");
    } else {
      ConformOptions o = added.conform;
      o.crop = Box{double(r.x), double(r.y), double(r.w), double(r.h)};
      o.raw = false;
      set_conform(id, o);
    }
  }
  if (app_.options.refine > 0) refine(id, app_.options.refine);
}

void Drops::remove(uint64_t id) {
  auto n = images_.size();
  std::erase_if(images_, [&](const DroppedImage& d) { return d.id == id; });
  if (images_.size() != n) ++version_;
}

void Drops::edit(uint64_t id) {
  for (const auto& d : images_) {
    if (d.id != id) continue;
    if (int(d.code.size()) != (app_.has_model() ? app_.config().nlat : -1)) {
      app_.info(d.name + " is not encoded yet");
      return;
    }
    // The code stays fixed from here on: toggling attributes then draws G(z, y') from the refined
    // code when there is one, else from E(x, y). Toggles start from what the model read in it.
    if (!d.attributes.empty() && app_.attributes.set_values(d.attributes))
      app_.info(d.name + " reads as " + app_.attributes.summary() + ": toggle attributes to edit it");
    app_.explore.set_inspect(d.best_code(), fs::path(d.path).filename().string() +
                                                (d.refined.empty() ? "" : " (refined)"));
    app_.attributes.focus = true;
    return;
  }
}

}  // namespace ali::explorer
