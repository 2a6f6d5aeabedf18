// Conditional models: the attribute row y every view draws with (toggled in the Attributes panel)
// and the attribute sweep (one row of images per attribute set over the same codes).
#pragma once
#include <string>
#include <vector>

#include "ali/models.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

// Attribute toggles shown together. Exclusive groups allow at most one on (CelebA's hair colours);
// a required group exactly one (the classes of a class-conditional model, trained on one-hot rows).
struct AttributeGroup {
  std::string title;
  std::vector<int> members;  // indices into config().attributes
  bool exclusive = false;
  bool required = false;
};
// The groups for these attribute names: one required group of classes when one_hot, else CelebA's
// hair colour and hair style groups and the rest under "Other".
std::vector<AttributeGroup> attribute_groups(const std::vector<std::string>& names, bool one_hot);
// The paper's attribute figure, rows whose names all exist in `names`; for class models every
// class.
std::string default_sweep_rows(const std::vector<std::string>& names, bool one_hot);

class Attributes {
 public:
  explicit Attributes(AppState& app);

  std::vector<AttributeGroup> groups;
  bool one_hot = false;
  bool focus = false;  // bring the Attributes panel to the front ("Edit attributes")

  // Sweep inputs, and what is shown (the newest render).
  std::string sweep_rows;  // CLI syntax: ';' between rows, ',' within
  int sweep_cols = 8;
  uint64_t sweep_seed = 0;
  Image sweep;
  torch::Tensor sweep_images;  // the rendered rows*cols images (float, CPU), for Export PNG
  int sweep_shown_cols = 0;
  std::vector<std::string> sweep_shown_rows;  // the attributes of each row of sweep_images
  int64_t sweep_step = -1;                    // model step it was rendered at
  std::string sweep_out_pending;  // --sweep-out: written once the startup sweep is rendered

  // The K values (0/1) fed as y to every G and E the views run; empty for unconditional models.
  const std::vector<float>& values() const { return values_; }
  bool active() const;  // a conditional model whose attributes these are
  bool on(int index) const {
    return index >= 0 && index < int(values_.size()) && values_[size_t(index)] > 0.5f;
  }
  torch::Tensor row() const;     // 1 x K, or undefined for unconditional models
  void set(int index, bool on);  // keeps exclusive groups exclusive
  void clear();
  // Exactly these values (a dropped image's reading); false, changing nothing, for another length.
  bool set_values(const std::vector<float>& values);
  bool set_names(
      const std::string& names);  // exactly these on ("A,B"); false (error shown) if unknown
  std::string summary() const;    // "Blond_Hair, Smiling", "none", "" when not conditional
  void render_sweep();
  bool sweep_rendering() const;
  void export_sweep(const std::string& path = "");  // "" = capture_dir/attribute-sweep-<time>.png
  void model_adopted();  // the new model's attributes (the choice kept when they are the same)

 private:
  friend class SweepView;
  AppState& app_;
  std::vector<float> values_;
  std::vector<std::string> names_;  // the names values_ belongs to
  uint64_t sweep_requests_ = 0;     // bumped by Render: the sweep is slow, it follows no snapshots
};

}  // namespace ali::explorer
