#include "explore.h"

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "ali/image_io.h"
#include "ali/latent.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
// An endpoint as a view input: its code when fixed, else its seed (the random code is drawn in the
// job).
using EndKey = std::tuple<std::vector<float>, uint64_t>;
EndKey end_key(const Explore& x, const Endpoint& e, int nlat) {
  if (e.shelf_id || !e.code.empty()) {
    auto code = x.endpoint_code(e);
    if (int(code.size()) == nlat) return {code, 0};
  }
  return EndKey{std::vector<float>{}, e.seed};
}
torch::Tensor end_code(const EndKey& k, int nlat) {
  const auto& [code, seed] = k;
  return code.empty() ? seeded_normal(1, nlat, seed) : code_tensor(code);
}

class InspectView : public View<std::tuple<std::vector<float>, std::vector<float>>, PixelBuffer> {
 public:
  explicit InspectView(Explore& x) : View(ViewKind::Inspect), x_(x) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || int(x_.inspect_code.size()) != s.config().nlat) return std::nullopt;
    return Key{x_.inspect_code, s.attributes.values()};
  }
  Job request(AppState& s, const Key&) override {
    auto z = code_tensor(x_.inspect_code);
    auto y1 = s.attributes.row();
    return [z, y1](AliModel& m, PixelBuffer& out) {
      out = to_pixels(decode(m, z, attribute_rows(m.config, y1, 1))[0]);
    };
  }
  void complete(AppState&, PixelBuffer&& r) override { x_.inspect.set(std::move(r)); }
  Explore& x_;
};

// One dimension of the inspector's code from -3 to 3, the rest fixed: what that dimension does.
class DimSweepView
    : public View<std::tuple<std::vector<float>, int, std::vector<float>>, PixelBuffer> {
 public:
  explicit DimSweepView(Explore& x) : View(ViewKind::DimSweep), x_(x) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    int nlat = s.has_model() ? s.config().nlat : 0;
    if (int(x_.inspect_code.size()) != nlat || x_.sweep_dim < 0 || x_.sweep_dim >= nlat)
      return std::nullopt;
    return Key{x_.inspect_code, x_.sweep_dim, s.attributes.values()};
  }
  Job request(AppState& s, const Key& k) override {
    auto z = code_tensor(x_.inspect_code).repeat({Explore::kDimSweepFrames, 1});
    z.select(1, std::get<1>(k)).copy_(torch::linspace(-3, 3, Explore::kDimSweepFrames));
    auto y1 = s.attributes.row();
    return [z, y1](AliModel& m, PixelBuffer& out) {
      auto x = decode(m, z, attribute_rows(m.config, y1, z.size(0)));
      out = to_pixels(make_grid(x, int(z.size(0)), 1, 0.25f));
    };
  }
  void complete(AppState&, PixelBuffer&& r) override { x_.dim_sweep.set(std::move(r)); }
  Explore& x_;
};

class InterpView
    : public View<std::tuple<EndKey, EndKey, float, bool, std::vector<float>>, PixelBuffer> {
 public:
  explicit InterpView(Explore& x) : View(ViewKind::Interp), x_(x) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model()) return std::nullopt;
    int nlat = s.config().nlat;
    return Key{end_key(x_, x_.ends[0], nlat), end_key(x_, x_.ends[1], nlat), x_.t, x_.slerp,
               s.attributes.values()};
  }
  Job request(AppState& s, const Key& k) override {
    int nlat = s.config().nlat;
    auto a = end_code(std::get<0>(k), nlat), b = end_code(std::get<1>(k), nlat);
    double t = std::get<2>(k);
    bool sph = std::get<3>(k);
    auto y1 = s.attributes.row();
    return [a, b, t, sph, y1](AliModel& m, PixelBuffer& out) {
      auto z = sph ? interpolate_slerp(a, b, t) : interpolate_linear(a, b, t);
      out = to_pixels(decode(m, z, attribute_rows(m.config, y1, 1))[0]);
    };
  }
  void complete(AppState&, PixelBuffer&& r) override { x_.interp.set(std::move(r)); }
  Explore& x_;
};

class StripView
    : public View<std::tuple<EndKey, EndKey, int, bool, std::vector<float>>, PixelBuffer> {
 public:
  explicit StripView(Explore& x) : View(ViewKind::Strip), x_(x) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model()) return std::nullopt;
    int nlat = s.config().nlat;
    return Key{end_key(x_, x_.ends[0], nlat), end_key(x_, x_.ends[1], nlat), x_.strip_frames,
               x_.slerp, s.attributes.values()};
  }
  Job request(AppState& s, const Key& k) override {
    int nlat = s.config().nlat;
    auto a = end_code(std::get<0>(k), nlat), b = end_code(std::get<1>(k), nlat);
    int n = std::get<2>(k);
    bool sph = std::get<3>(k);
    auto y1 = s.attributes.row();
    return [a, b, n, sph, y1](AliModel& m, PixelBuffer& out) {
      auto path = interpolation_path(a[0], b[0], n, sph);
      auto x = decode(m, path, attribute_rows(m.config, y1, n));
      out = to_pixels(make_grid(x, n, 1, 0.25f));
    };
  }
  void complete(AppState&, PixelBuffer&& r) override { x_.strip.set(std::move(r)); }
  Explore& x_;
};
}  // namespace

Explore::Explore(AppState& app) : app_(app) {
  strip_frames = std::clamp(app.settings.strip_frames, 2, 32);
  slerp = app.settings.slerp;
  const auto& shelf = app.shelf.entries();
  if (shelf.size() >= 2) {
    ends[0].shelf_id = shelf[0].id;
    ends[1].shelf_id = shelf[1].id;
  } else {
    ends[1].seed = 2;
  }
  app.views.add<InspectView>(*this);
  app.views.add<DimSweepView>(*this);
  app.views.add<InterpView>(*this);
  app.views.add<StripView>(*this);
}

void Explore::model_adopted() {
  int nlat = app_.config().nlat;
  if (int(inspect_code.size()) != nlat) {
    inspect_code = code_vector(seeded_normal(1, nlat, 1)[0]);
    inspect_origin = inspect_code;
    inspect_source = "random #1";
  }
  if (sweep_dim >= nlat) sweep_dim = -1;
  dim_order.clear();
}

void Explore::set_inspect(std::vector<float> code, const std::string& source) {
  inspect_code = code;
  inspect_origin = std::move(code);
  inspect_source = source;
}

void Explore::set_endpoint(int k, uint64_t shelf_id) {
  ends[k & 1] = Endpoint{};
  ends[k & 1].shelf_id = shelf_id;
}

void Explore::set_endpoint(int k, std::vector<float> code, const std::string& label) {
  ends[k & 1] = Endpoint{0, std::move(code), label, 1};
}

std::vector<float> Explore::endpoint_code(const Endpoint& e) const {
  int nlat = app_.has_model() ? app_.config().nlat : 0;
  if (e.shelf_id)
    if (const ShelfEntry* s = app_.shelf.find(e.shelf_id); s && int(s->code.size()) == nlat)
      return s->code;
  if (!e.shelf_id && int(e.code.size()) == nlat) return e.code;
  return code_vector(seeded_normal(1, nlat, e.seed)[0]);
}

std::string Explore::endpoint_name(const Endpoint& e) const {
  if (e.shelf_id)
    if (const ShelfEntry* s = app_.shelf.find(e.shelf_id)) return s->name;
  if (!e.code.empty()) return e.label;
  return "random #" + std::to_string(e.seed);
}

void Explore::export_strip(bool gif) {
  if (!app_.has_model()) return;
  auto a = code_tensor(endpoint_code(ends[0])), b = code_tensor(endpoint_code(ends[1]));
  int n = strip_frames;
  bool sph = slerp;
  fs::path out_path = fs::path(app_.settings.capture_dir) /
                      ("interpolation-" + timestamp() + (gif ? ".gif" : ".png"));
  auto y1 = app_.attributes.row();
  app_.post_once([a, b, n, sph, gif, out_path, y1](AliModel& m) -> std::string {
    auto path = interpolation_path(a[0], b[0], gif ? 24 : n, sph);
    auto x = decode(m, path, attribute_rows(m.config, y1, path.size(0)));
    int scale = m.config.image_size < 48 ? 4 : 2;
    if (!gif) return "wrote " + write_png(out_path, make_grid(x, int(x.size(0))), scale);
    fs::create_directories(fs::absolute(out_path).parent_path());
    std::vector<torch::Tensor> frames;
    for (int64_t i = 0; i < x.size(0); ++i) frames.push_back(upscale(x[i], scale));
    for (int64_t i = x.size(0) - 2; i > 0; --i) frames.push_back(upscale(x[i], scale));
    save_gif(out_path, frames, 6);
    return "wrote " + fs::absolute(out_path).string();
  });
}

void Explore::save_capture() {
  if (inspect.empty()) return app_.error("no output image to save yet");
  PixelBuffer b = inspect.pixels;
  fs::path p = fs::path(app_.settings.capture_dir) / ("output-" + timestamp() + ".png");
  app_.tasks.run("capture", [b, p]() -> Apply {
    auto abs = write_png(p, from_pixels(b), b.width < 48 ? 8 : 4);
    return [abs](AppState& s) { s.info("wrote " + abs); };
  });
}

std::string format_code(const std::vector<float>& code) {
  std::ostringstream o;
  o << std::setprecision(5);
  for (size_t i = 0; i < code.size(); ++i) o << (i ? ", " : "") << code[i];
  return o.str();
}

std::vector<float> parse_code(const std::string& text, int nlat) {
  std::string t = text;
  for (char& ch : t)
    if (ch == ',' || ch == '[' || ch == ']' || ch == ';' || ch == '\n' || ch == '\t') ch = ' ';
  std::istringstream in(t);
  std::vector<float> v;
  std::string tok;
  while (in >> tok) {
    try {
      size_t used = 0;
      float f = std::stof(tok, &used);
      if (used != tok.size() || !std::isfinite(f)) throw std::invalid_argument(tok);
      v.push_back(f);
    } catch (const std::exception&) {
      throw Error("the clipboard does not hold a latent code ('" + tok.substr(0, 20) +
                  "' is not a number)");
    }
  }
  if (int(v.size()) != nlat)
    throw Error("the pasted code has " + std::to_string(v.size()) +
                " numbers; this model's latent size is " + std::to_string(nlat));
  return v;
}

}  // namespace ali::explorer
