// What persists between runs, in the config folder: settings.json (recent files, training controls,
// window size), session.json (the latent shelf) and imgui.ini (panel layout, written by ImGui).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace ali::explorer {

struct SavedShelfEntry {
  std::string name;
  std::vector<float> code;
  std::string source;
};

struct Settings {
  std::filesystem::path dir;
  std::vector<std::string> recent;  // most recent first
  std::vector<std::string> recent_images;  // dropped or added images, most recent first
  double lr = 1e-4;
  int batch = 100;
  long long max_steps = 6000;
  std::string device = "auto";
  std::string dataset;
  int strip_frames = 8;
  bool slerp = true;
  int window_w = 1600, window_h = 960;
  std::string capture_dir = "captures";

  void load();        // missing or unreadable files leave the defaults; then sanitize()
  void sanitize();    // out-of-range values (window size, lr, batch, ...) back to their defaults
  void save() const;  // best effort; returns quietly on failure
  void add_recent(const std::string& path);
  void add_recent_image(const std::string& path);
  std::filesystem::path ini_path() const { return dir / "imgui.ini"; }
};

std::vector<SavedShelfEntry> load_shelf(const std::filesystem::path& dir);
void save_shelf(const std::filesystem::path& dir, const std::vector<SavedShelfEntry>& entries);

}  // namespace ali::explorer
