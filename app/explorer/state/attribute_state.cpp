#include "attribute_state.h"

#include <filesystem>

#include "ali/image_io.h"
#include "app_state.h"
#include "state_util.h"

namespace fs = std::filesystem;

namespace ali::explorer {

std::vector<AttributeGroup> attribute_groups(const std::vector<std::string>& names, bool one_hot) {
  std::vector<AttributeGroup> groups;
  if (names.empty()) return groups;
  if (one_hot) {  // trained on one-hot rows: any other row is outside what G has seen
    AttributeGroup g{"Class", {}, true, true};
    for (size_t i = 0; i < names.size(); ++i) g.members.push_back(int(i));
    groups.push_back(std::move(g));
    return groups;
  }
  // CelebA labels at most one hair colour and one hair style per face (the core's exclusive
  // groups): they toggle like radio buttons, none on being a valid label.
  std::vector<bool> used(names.size(), false);
  for (const auto& members : exclusive_attribute_groups(names, /*classes=*/false)) {
    bool colour = std::find(members.begin(), members.end(), "Black_Hair") != members.end();
    AttributeGroup g{colour ? "Hair colour" : "Hair style", {}, true, false};
    for (const auto& m : members) {
      int i = int(std::find(names.begin(), names.end(), m) - names.begin());
      g.members.push_back(i);
      used[size_t(i)] = true;
    }
    groups.push_back(std::move(g));
  }
  AttributeGroup other{groups.empty() ? "Attributes" : "Other", {}, false, false};
  for (size_t i = 0; i < names.size(); ++i)
    if (!used[i]) other.members.push_back(int(i));
  if (!other.members.empty()) groups.push_back(std::move(other));
  return groups;
}

std::string default_sweep_rows(const std::vector<std::string>& names, bool one_hot) {
  std::string out;
  auto add = [&](const std::string& row) { out += (out.empty() ? "" : ";") + row; };
  if (one_hot) {
    for (const auto& n : names) add(n);
    return out;
  }
  // The paper's CelebA figure (ALI, Dumoulin et al. 2017, fig. 8), rows this model can draw.
  static const char* kPaperRows =
      "Black_Hair;Brown_Hair;Blond_Hair;Black_Hair,Wavy_Hair;Blond_Hair,Bangs;Blond_Hair,Receding_"
      "Hairline;"
      "Blond_Hair,Bald;Black_Hair,Smiling;Black_Hair,Smiling,Mouth_Slightly_Open;"
      "Black_Hair,Smiling,Mouth_Slightly_Open,Eyeglasses;"
      "Black_Hair,Smiling,Mouth_Slightly_Open,Eyeglasses,Wearing_Hat";
  for (const auto& row : split_list(kPaperRows, ';')) {
    auto parts = split_list(row, ',');
    if (std::all_of(parts.begin(), parts.end(), [&](const auto& p) {
          return std::find(names.begin(), names.end(), p) != names.end();
        }))
      add(row);
  }
  if (out.empty())  // not CelebA's names: one attribute per row
    for (const auto& n : names) add(n);
  return out;
}

namespace {
struct SweepResult {
  torch::Tensor images;
  PixelBuffer grid;
  int cols = 0;
  std::vector<std::string> labels;
};
}  // namespace

class SweepView : public View<std::tuple<uint64_t, std::string, int, uint64_t>, SweepResult> {
 public:
  explicit SweepView(Attributes& a) : View(ViewKind::Sweep), a_(a) {}

 private:
  bool follows_model() const override { return false; }
  std::optional<Key> key(const AppState& s) const override {
    if (!s.has_model() || a_.sweep_requests_ == 0) return std::nullopt;
    return Key{a_.sweep_requests_, a_.sweep_rows, a_.sweep_cols, a_.sweep_seed};
  }
  Job request(AppState& s, const Key&) override {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> labels;
    for (const auto& r : split_list(a_.sweep_rows, ';')) {
      rows.push_back(split_list(r, ','));
      std::string label;
      for (const auto& x : rows.back()) label += (label.empty() ? "" : ", ") + x;
      labels.push_back(label.empty() ? "(none)" : label);
    }
    int cols = std::clamp(a_.sweep_cols, 1, 64);
    uint64_t seed = a_.sweep_seed;
    return [rows, labels, cols, seed](AliModel& m, SweepResult& out) {
      // attribute_sweep throws ali::Error naming the valid attributes; the worker reports it.
      out.images = attribute_sweep(m, rows, cols, seed);
      out.grid = to_pixels(make_grid(out.images, cols, 1, 0.25f));
      out.cols = cols;
      out.labels = labels;
    };
  }
  void complete(AppState& s, SweepResult&& r) override {
    a_.sweep.set(std::move(r.grid));
    a_.sweep_images = r.images;
    a_.sweep_shown_cols = r.cols;
    a_.sweep_shown_rows = std::move(r.labels);
    a_.sweep_step = s.step();
    if (!a_.sweep_out_pending.empty()) {
      a_.export_sweep(a_.sweep_out_pending);
      a_.sweep_out_pending.clear();
    }
  }
  void failed(AppState& s, const std::string& error) override {
    a_.sweep_out_pending.clear();  // nothing to write: scripted runs need not wait for it
    s.error("attribute sweep: " + error);
  }
  Attributes& a_;
};

Attributes::Attributes(AppState& app) : app_(app) { app.views.add<SweepView>(*this); }

bool Attributes::active() const {
  return app_.has_model() && app_.config().conditional() &&
         values_.size() == app_.config().attributes.size();
}

torch::Tensor Attributes::row() const { return active() ? code_tensor(values_) : torch::Tensor(); }

void Attributes::model_adopted() {
  const auto& names = app_.config().attributes;
  // A sweep of the previous model would pass for this one's.
  sweep.clear();
  sweep_images = torch::Tensor();
  sweep_shown_rows.clear();
  sweep_requests_ = 0;
  if (names == names_ && values_.size() == names.size())
    return;  // same attributes: keep the choice
  names_ = names;
  one_hot = app_.config().attributes_are_classes();
  groups = attribute_groups(names, one_hot);
  // Start as the sample grid's first row does: a class model's first class (it draws one class),
  // a face model's consistent face (CelebA's rows have No_Beard on wherever there is no beard).
  values_.assign(names.size(), 0.0f);
  if (auto first = sample_grid_attributes(app_.config(), 1, 1); first.defined())
    values_ = code_vector(first[0]);
  sweep_rows = default_sweep_rows(names, one_hot);
}

void Attributes::set(int index, bool on) {
  if (index < 0 || index >= int(values_.size())) return;
  if (!on && one_hot) return;  // a class model always draws one class
  // The core keeps the row consistent (exclusive groups, Mustache/Goatee imply Male, ...).
  auto r = code_tensor(values_);
  request_attribute(names_, one_hot, r, names_[size_t(index)], on);
  values_ = code_vector(r[0]);
}

void Attributes::clear() {
  if (one_hot) return;  // exactly one class stays on
  std::fill(values_.begin(), values_.end(), 0.0f);
}

bool Attributes::set_values(const std::vector<float>& values) {
  if (!active() || values.size() != values_.size()) return false;
  values_ = values;
  return true;
}

bool Attributes::set_names(const std::string& names) {
  if (!app_.has_model()) return false;
  try {
    // attribute_vector checks the names (the error lists the valid ones).
    auto y = attribute_vector(app_.config(), split_list(names));
    if (!y.defined()) return true;  // not conditional and no names: nothing to do
    values_ = code_vector(y[0]);
  } catch (const std::exception& e) {
    app_.error("cannot set attributes: " + describe_exception(e));
    return false;
  }
  return true;
}

std::string Attributes::summary() const {
  if (!active()) return "";
  std::string out;
  for (size_t i = 0; i < values_.size(); ++i)
    if (values_[i] > 0.5f) out += (out.empty() ? "" : ", ") + names_[i];
  return out.empty() ? "none" : out;
}

void Attributes::render_sweep() {
  if (app_.has_model()) ++sweep_requests_;
}

bool Attributes::sweep_rendering() const { return app_.views.rendering(ViewKind::Sweep); }

void Attributes::export_sweep(const std::string& path) {
  if (!sweep_images.defined()) return app_.error("render the attribute sweep first");
  fs::path p = path.empty() ? fs::path(app_.settings.capture_dir) /
                                  ("attribute-sweep-" + timestamp() + ".png")
                            : fs::path(path);
  auto x = sweep_images;
  int cols = sweep_shown_cols;
  app_.tasks.run("sweep-export", [x, cols, p]() -> Apply {
    // As export_strip and `ali sweep`: make_grid's white 2-pixel gaps, small images scaled up.
    auto abs = write_png(p, make_grid(x, cols), x.size(2) < 48 ? 4 : 2);
    return [abs](AppState& s) { s.info("wrote " + abs); };
  });
}

}  // namespace ali::explorer
