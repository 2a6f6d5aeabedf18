#include "drops.h"

#include <filesystem>

#include "ali/checkpoint.h"
#include "ali/image_io.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
struct Encoded {
  std::vector<uint64_t> ids;
  std::vector<PixelBuffer> inputs, recons;
  torch::Tensor codes;
};
}  // namespace

// E(x, y) and G(mu, y) with the Attributes panel's y: what "Edit attributes" starts from. The
// images are conformed to the model's input here, on the inference thread, not on the UI thread.
class DroppedView : public View<std::tuple<uint64_t, std::vector<float>>, Encoded> {
 public:
  explicit DroppedView(Drops& drops) : View(ViewKind::Dropped), drops_(drops) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || drops_.images_.empty()) return std::nullopt;
    return Key{drops_.version_, s.attributes.values()};
  }
  Job request(AppState& s, const Key&) override {
    std::vector<torch::Tensor> hwcs;
    std::vector<uint64_t> ids;
    for (const auto& d : drops_.images_) {
      hwcs.push_back(d.hwc);
      ids.push_back(d.id);
    }
    auto y1 = s.attributes.row();
    return [hwcs, ids, y1](AliModel& m, Encoded& out) {
      std::vector<torch::Tensor> xs;
      for (const auto& h : hwcs)
        xs.push_back(conform_image(h, m.config.image_size, m.config.image_channels)
                         .to(torch::kFloat)
                         .div(255.0));
      auto x = torch::stack(xs);
      auto y = attribute_rows(m.config, y1, x.size(0));
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
        // Shelf entries of dropped images follow the model: re-encoded with every snapshot.
        if (const ShelfEntry* e = s.shelf.find_source(d.path))
          s.shelf.set_code(e->id, d.code);
        else if (!d.shelved)
          s.shelf.add(d.name, d.code, d.path);
        d.shelved = true;
      }
  }
  Drops& drops_;
};

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

Drops::Drops(AppState& app) : app_(app) { app.views.add<DroppedView>(*this); }

size_t Drops::reconstructed() const {
  size_t n = 0;
  for (const auto& d : images_) n += !d.recon.empty();
  return n;
}

void Drops::handle(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      app_.error(p + ": no such file or folder");
      continue;
    }
    if (fs::is_directory(p, ec)) {
      app_.data.set_dataset(p);  // a dataset folder: IDX files or images, checked in the background
      continue;
    }
    if (looks_like_checkpoint(p)) {
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
  images_.push_back(std::move(d));
  ++version_;
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
    // The code stays fixed from here on: toggling attributes then draws G(E(x, y), y').
    app_.explore.set_inspect(d.code, fs::path(d.path).filename().string());
    app_.attributes.focus = true;
    return;
  }
}

}  // namespace ali::explorer
