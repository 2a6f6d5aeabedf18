#include "live_views.h"

#include "ali/image_io.h"
#include "app_state.h"
#include "state_util.h"

namespace ali::explorer {

namespace {
constexpr int kSampleCount = 64, kCols = 8, kReconCount = 32;
constexpr uint64_t kSampleSeed = 2017;  // fixed z for the live sample grid

struct NoInputs {
  bool operator==(const NoInputs&) const = default;
};

struct SampleGrid {
  PixelBuffer pixels;
  std::vector<std::vector<std::string>> rows;  // the attributes of each row (conditional models)
};

class SamplesView : public View<NoInputs, SampleGrid> {
 public:
  explicit SamplesView(LiveViews& v) : View(ViewKind::Samples), v_(v) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    return s.has_model() ? std::optional<Key>(Key{}) : std::nullopt;
  }
  Job request(AppState&, const Key&) override {
    return [](AliModel& m, SampleGrid& out) {
      auto z = seeded_normal(kSampleCount, m.config.nlat, kSampleSeed);
      auto x = decode(m, z, sample_grid_attributes(m.config, kSampleCount, kCols));
      out.pixels = to_pixels(make_grid(x, kCols, 1, 0.25f));
      out.rows = sample_grid_row_names(m.config, (kSampleCount + kCols - 1) / kCols);
    };
  }
  void complete(AppState&, SampleGrid&& r) override {
    v_.samples.set(std::move(r.pixels));
    v_.sample_rows = std::move(r.rows);
  }
  LiveViews& v_;
};

class ReconsView : public View<const ImageSet*, PixelBuffer> {
 public:
  explicit ReconsView(LiveViews& v) : View(ViewKind::Recons), v_(v) {}

 private:
  std::optional<Key> key(const AppState& s) const override {
    const auto& t = s.data.test_set;
    if (!s.has_model() || !t || t->size() == 0) return std::nullopt;
    return t.get();
  }
  Job request(AppState& s, const Key&) override {
    const auto& t = s.data.test_set;
    auto n = std::min<int64_t>(kReconCount, t->size());
    auto idx = torch::arange(n, torch::kLong);
    auto x = t->float_images(idx);
    torch::Tensor y = t->attributes.defined() && s.config().conditional()
                          ? t->attributes.index_select(0, idx)
                          : torch::Tensor();
    return [x, y](AliModel& m, PixelBuffer& out) {
      auto r =
          reconstruct(m, x, y.defined() ? y : attribute_rows(m.config, torch::Tensor(), x.size(0)));
      // Rows of 8: inputs, then their reconstructions beneath.
      std::vector<torch::Tensor> rows;
      for (int64_t i = 0; i < x.size(0); i += kCols) {
        int64_t len = std::min<int64_t>(kCols, x.size(0) - i);
        rows.push_back(x.narrow(0, i, len));
        rows.push_back(r.narrow(0, i, len));
      }
      out = to_pixels(make_grid(torch::cat(rows), kCols, 1, 0.25f));
    };
  }
  void complete(AppState&, PixelBuffer&& r) override { v_.recons.set(std::move(r)); }
  LiveViews& v_;
};
}  // namespace

LiveViews::LiveViews(AppState& app) {
  app.views.add<SamplesView>(*this);
  app.views.add<ReconsView>(*this);
}

}  // namespace ali::explorer
