#include "shelf.h"

#include "app_state.h"
#include "state_util.h"

namespace ali::explorer {

struct ShelfThumbs {
  std::vector<uint64_t> ids;
  std::vector<PixelBuffer> images;
};

// Thumbnails look like what interpolating between the codes shows: G(z, y) with the Attributes
// panel's y.
class ShelfThumbsView : public View<std::tuple<uint64_t, std::vector<float>>, ShelfThumbs> {
 public:
  explicit ShelfThumbsView(Shelf& shelf) : View(ViewKind::ShelfThumbs), shelf_(shelf) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || shelf_.entries_.empty()) return std::nullopt;
    return Key{shelf_.version(), s.attributes.values()};
  }
  Job request(AppState& s, const Key&) override {
    std::vector<torch::Tensor> codes;
    std::vector<uint64_t> ids;
    for (const auto& e : shelf_.entries_)
      if (int(e.code.size()) == s.config().nlat) {
        codes.push_back(code_tensor(e.code)[0]);
        ids.push_back(e.id);
      }
    if (codes.empty()) return [](AliModel&, ShelfThumbs&) {};
    auto z = torch::stack(codes);
    auto y1 = s.attributes.row();
    return [z, y1, ids](AliModel& m, ShelfThumbs& out) {
      auto x = decode(m, z, attribute_rows(m.config, y1, z.size(0)));
      for (int64_t i = 0; i < x.size(0); ++i) out.images.push_back(to_pixels(x[i]));
      out.ids = ids;
    };
  }
  void complete(AppState&, ShelfThumbs&& r) override {
    for (size_t i = 0; i < r.images.size() && i < r.ids.size(); ++i)
      if (ShelfEntry* e = shelf_.entry(r.ids[i])) e->thumb.set(std::move(r.images[i]));
  }
  Shelf& shelf_;
};

Shelf::Shelf(AppState& app) : app_(app) {
  for (auto& e : load_shelf(app.settings.dir))
    entries_.push_back({app.next_id(), e.name, e.code, e.source, {}});
  app.views.add<ShelfThumbsView>(*this);
}

uint64_t Shelf::add(const std::string& name, std::vector<float> code, const std::string& source) {
  ShelfEntry e;
  e.id = app_.next_id();
  e.name = name;
  e.code = std::move(code);
  e.source = source;
  entries_.push_back(std::move(e));
  changed();
  return entries_.back().id;
}

ShelfEntry* Shelf::entry(uint64_t id) {
  for (auto& e : entries_)
    if (e.id == id) return &e;
  return nullptr;
}

const ShelfEntry* Shelf::find(uint64_t id) const { return const_cast<Shelf*>(this)->entry(id); }

const ShelfEntry* Shelf::find_source(const std::string& source) const {
  for (const auto& e : entries_)
    if (!source.empty() && e.source == source) return &e;
  return nullptr;
}

void Shelf::set_code(uint64_t id, std::vector<float> code) {
  ShelfEntry* e = entry(id);
  if (!e || e->code == code) return;
  e->code = std::move(code);
  changed();
}

void Shelf::rename(uint64_t id, std::string name) {
  if (ShelfEntry* e = entry(id)) {
    e->name = std::move(name);
    dirty_ = true;
  }
}

void Shelf::move(size_t from, size_t to) {
  if (from >= entries_.size() || to >= entries_.size() || from == to) return;
  ShelfEntry e = std::move(entries_[from]);
  entries_.erase(entries_.begin() + std::ptrdiff_t(from));
  entries_.insert(entries_.begin() + std::ptrdiff_t(to), std::move(e));
  changed();
}

void Shelf::remove(uint64_t id) {
  auto n = entries_.size();
  std::erase_if(entries_, [&](const ShelfEntry& e) { return e.id == id; });
  if (entries_.size() != n) changed();
}

}  // namespace ali::explorer
