#include "latent_map.h"

#include <algorithm>

#include "ali/attributes.h"
#include "ali/error.h"
#include "ali/latent.h"
#include "ali/pca.h"
#include "ali/text.h"
#include "ali/tsne.h"
#include "app_state.h"
#include "state_util.h"

namespace ali::explorer {

namespace {
constexpr int kMapPoints = 2000;
struct MapResult {
  torch::Tensor codes, points;
  float explained[2] = {0, 0};
};
}  // namespace

// Slow (2000 encodings and a PCA): it follows the model only when asked (request, follow training).
// The t-SNE layout is not computed here but on a task of its own (LatentMap::start_tsne): it needs
// no model, and the worker's other views should not wait seconds behind it.
class MapView : public View<std::tuple<uint64_t, uint64_t, const ImageSet*>, MapResult> {
 public:
  explicit MapView(LatentMap& m) : View(ViewKind::Map), m_(m) {}

 private:
  bool follows_model() const override { return false; }
  std::optional<Key> key(const AppState& s) const override {
    const auto& t = s.data.test_set;
    if (!s.has_model() || !t || t->size() < 2) return std::nullopt;
    return Key{s.host.adoptions, m_.requests_, t.get()};
  }
  Job request(AppState& s, const Key&) override {
    std::shared_ptr<const ImageSet> set = s.data.test_set;  // immutable: read on the worker thread
    m_.requested_at_ = s.now();
    return [set](AliModel& m, MapResult& out) {
      out.codes = encode_images(m, *set, kMapPoints);
      Projection p = fit_pca(out.codes, 2);
      out.points = p.apply(out.codes).contiguous();
      out.explained[0] = p.explained[0].item<float>();
      out.explained[1] = p.explained[1].item<float>();
    };
  }
  void complete(AppState& s, MapResult&& r) override {
    const int64_t n = r.points.size(0);
    m_.describe_points(s.data.test_set.get(), n);
    m_.explained[0] = r.explained[0];
    m_.explained[1] = r.explained[1];
    for (int& p : m_.picked)
      if (p >= n) p = -1;
    s.explore.dim_order = dimensions_by_variance(r.codes);
    m_.codes_arrived(std::move(r.codes), std::move(r.points), s.data.test_set.get());
  }
  LatentMap& m_;
};

LatentMap::LatentMap(AppState& app) : app_(app) { app.views.add<MapView>(*this); }

void LatentMap::describe_points(const ImageSet* t, int64_t n) {
  class_labels_.clear();
  if (t && t->labels.defined() && t->labels.size(0) >= n) {
    auto l = t->labels.narrow(0, 0, n).to(torch::kLong).contiguous();
    class_labels_.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + n);
  }
  const int chosen = colour_attribute;  // kept across re-encodings of the same set
  const std::vector<std::string> names_before = std::move(attribute_names);
  attributes = torch::Tensor();
  attribute_names.clear();
  varying.clear();
  int colour = -1;
  // Attributes of their own (a class set's one-hot rows, for a class-conditional model, are its
  // classes again: coloured and named as classes).
  if (class_labels_.empty() && t && t->attributes.defined() && t->attributes.size(0) >= n &&
      !t->attribute_names.empty()) {
    attributes = t->attributes.narrow(0, 0, n).to(torch::kFloat).contiguous();
    attribute_names = t->attribute_names;
    auto rate = attributes.mean(0);
    for (int a = 0; a < int(rate.size(0)); ++a) {
      float r = rate[a].item<float>();
      if (r >= 0.02f && r <= 0.98f) varying.push_back(a);
    }
    // An attribute that varies, Male where it does (the first thing a face map separates).
    if (!varying.empty()) {
      colour = varying.front();
      for (int a : varying)
        if (attribute_names[size_t(a)] == "Male") colour = a;
    }
    if (chosen >= 0 && names_before == attribute_names &&
        std::find(varying.begin(), varying.end(), chosen) != varying.end())
      colour = chosen;
  }
  colour_by(colour);
  // Thumbnails of the same images are kept (a map following training re-encodes them).
  if (t == images_ && thumbnails.size() == size_t(n)) return;
  thumbnails.clear();
  if (t && n <= kMaxThumbnails && t->size() >= n) {
    auto images = t->float_images(torch::arange(n));
    thumbnails.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) thumbnails[size_t(i)].set(to_pixels(images[i]));
  }
}

void LatentMap::show(const torch::Tensor& p) {
  points = p;
  ++version;
}

void LatentMap::codes_arrived(torch::Tensor c, torch::Tensor pca, const void* images) {
  // Following training, the same test images again: the new layout starts from the last one, so
  // the map moves with the model instead of being laid out afresh each time.
  torch::Tensor previous = tsne_points;
  bool same_points = previous.defined() && images == images_ && c.size(0) == previous.size(0);
  cancel_layout();
  ++codes_version_;
  images_ = images;
  codes = std::move(c);
  pca_points = std::move(pca);
  tsne_points = same_points ? previous : torch::Tensor();
  continue_from_ = same_points;
  layout_note.clear();
  show(layout_ == MapLayout::Tsne && tsne_points.defined() ? tsne_points : pca_points);  // the last layout meanwhile
  if (layout_ == MapLayout::Tsne && shown_) start_tsne();
}

void LatentMap::shown() {
  if (shown_) return;
  shown_ = true;
  if (layout_ == MapLayout::Tsne && !tsne_current()) start_tsne();
}

void LatentMap::start_tsne() {
  if (!codes.defined() || running_) return;
  if (codes.size(0) < 4) {
    layout_note = "t-SNE needs 4 codes or more";
    return;
  }
  layout_note.clear();
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  running_ = cancel;
  TsneOptions o;
  o.cancel = cancel.get();
  if (continue_from_ && tsne_points.defined()) {
    o.start = tsne_points;
    o.exaggeration_iterations = 0;
    o.iterations = 300;
  }
  app_.tasks.run("map-layout", [codes = codes, o, cancel, v = codes_version_]() -> Apply {
    torch::Tensor t;
    std::string error;
    try {
      t = tsne(codes, o);
    } catch (const std::exception& e) {
      error = describe_exception(e);
    }
    return [t, error, cancel, v](AppState& s) {
      LatentMap& m = s.map;
      if (m.running_ == cancel) m.running_.reset();
      if (v != m.codes_version_) return;  // made for older codes
      if (!error.empty()) {  // the PCA layout stays up
        m.layout_note = "t-SNE failed";
        s.error("latent map: " + error);
        return;
      }
      if (!t.defined()) return;  // cancelled
      m.tsne_points = t;
      m.continue_from_ = false;
      if (m.layout_ == MapLayout::Tsne) m.show(t);
    };
  });
}

void LatentMap::colour_by(int attribute) {
  if (!attributes.defined() || attribute < 0 || attribute >= int(attributes.size(1))) {
    colour_attribute = -1;
    labels = class_labels_;
    return;
  }
  colour_attribute = attribute;
  auto column = attributes.select(1, attribute).gt(0.5f).to(torch::kLong).contiguous();
  labels.assign(column.data_ptr<int64_t>(), column.data_ptr<int64_t>() + column.numel());
}

std::string LatentMap::point_attributes(int index) const {
  if (!attributes.defined() || index < 0 || index >= attributes.size(0)) return {};
  auto on = attributes_on(attribute_names, attributes[index]);
  return on.empty() ? std::string("none") : joined(on);
}

void LatentMap::cancel_layout() {
  if (running_) running_->store(true);
  running_.reset();
}

void LatentMap::set_layout(MapLayout l) {
  if (l == layout_) return;
  layout_ = l;
  if (l == MapLayout::Pca) {
    if (pca_points.defined()) show(pca_points);
  } else if (tsne_current()) {
    show(tsne_points);
  } else {
    start_tsne();
  }
}

void LatentMap::request() { ++requests_; }

void LatentMap::poll() {
  auto& h = app_.host;
  if (follow && h.session && h.session->state() == TrainState::Running &&
      app_.now() - requested_at_ > 10)
    request();
}

void LatentMap::model_adopted() {
  cancel_layout();
  ++codes_version_;
  codes = points = pca_points = tsne_points = attributes = torch::Tensor();
  attribute_names.clear();
  varying.clear();
  class_labels_.clear();
  colour_attribute = -1;
  thumbnails.clear();
  layout_note.clear();
  continue_from_ = false;
  labels.clear();
  picked[0] = picked[1] = -1;
  next_pick = 0;
  hovered = hover_index_ = -1;
  hover_.clear();
  ++version;
}

void LatentMap::pick(int index) {
  if (!codes.defined() || index < 0 || index >= codes.size(0)) return;
  int k = next_pick;
  picked[k] = index;
  next_pick = 1 - k;
  std::string name = "test #" + std::to_string(index);
  auto code = code_vector(codes[index]);
  app_.explore.set_inspect(code, name);
  app_.explore.set_endpoint(k, code, name);
  if (k == 1)
    app_.info("interpolating " + app_.explore.endpoint_name(app_.explore.ends[0]) + " -> " + name);
}

const Image& LatentMap::hover_image(int index) {
  const auto& t = app_.data.test_set;
  if (index != hover_index_ && t && index >= 0 && index < t->size()) {
    hover_.set(to_pixels(t->float_images(torch::tensor({int64_t(index)}))[0]));
    hover_index_ = index;
  }
  return hover_;
}

}  // namespace ali::explorer
