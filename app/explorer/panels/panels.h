// The explorer's panels: each a small widget that draws from, and writes into, the one AppState
// (StyleGAN3 visualizer style). Panels never wait: they post actions and requests.
#pragma once
#include <string>

#include "app_state.h"
#include "gl_image.h"

namespace ali::explorer {

// Begins a window whose first-use placement is given as fractions of the display (x, y, w, h);
// afterwards ImGui's saved layout wins.
bool begin_panel(const char* title, float x, float y, float w, float h, bool* open = nullptr);

class ModelPanel {
 public:
  void draw(AppState& s);

 private:
  std::string path_input_;
  int preset_ = 0;
  std::string preset_arch_;  // the preset that preset_ was last set from
  std::string dataset_input_;
  bool dataset_synced_ = false;
  std::vector<std::filesystem::path> shipped_;
  bool shipped_scanned_ = false;
};

class TrainPanel {
 public:
  void draw(AppState& s);
};

class LiveViewPanel {
 public:
  void draw(AppState& s);
};

class EncodePanel {
 public:
  void draw(AppState& s);

 private:
  std::string path_input_;
};

// Conditional models: attribute toggles that re-render the views, and the attribute sweep grid.
class AttributesPanel {
 public:
  void draw(AppState& s);

 private:
  void toggles_tab(AppState& s);
  void sweep_tab(AppState& s);
  bool tab_selected_ = false;
};

class ShelfPanel {
 public:
  void draw(AppState& s);
};

class ExplorePanel {  // Interpolate | Inspect | Latent map
 public:
  void draw(AppState& s);

 private:
  void interpolate_tab(AppState& s);
  void inspect_tab(AppState& s);
  void map_tab(AppState& s);
  bool show_all_dims_ = false;
  bool show_thumbnails_ = true;  // latent map: points as their images, when there are few
  bool tab_selected_ = false;
  float bounds_[4] = {0, 1, 0, 1};  // latent map view: x0, x1, y0, y1 (1st..99th percentiles)
  uint64_t bounds_version_ = ~0ull;
  int64_t bounds_n_ = -1;
};

class StatusBar {
 public:
  void draw(AppState& s);

 private:
  bool show_messages_ = false;
};

class FileDialog {  // the in-window browser for Open model / Add images
 public:
  void draw(AppState& s);

 private:
  std::string location_;
};

class OpenDialog {  // Ctrl+O
 public:
  void draw(AppState& s);

 private:
  std::string input_;
  bool focus_ = false;
};

// Small shared drawing helpers.
void help_marker(const char* text);
void plot_series(const char* id, const std::vector<const std::vector<float>*>& series,
                 const std::vector<ImU32>& colours, const std::vector<const char*>& names,
                 float height, float y_min, float y_max, bool auto_range);

}  // namespace ali::explorer
