#include "settings.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace ali::explorer {

namespace {
json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return json::object();
  try {
    return json::parse(in);
  } catch (const std::exception&) {
    return json::object();  // a damaged settings file must not stop the program
  }
}

void write_json(const fs::path& p, const json& j) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) return;
    out << j.dump(2) << "\n";
    if (!out) return;
  }
  fs::rename(tmp, p, ec);
}
}  // namespace

void Settings::load() {
  json j = read_json(dir / "settings.json");
  auto get = [&](const char* k, auto& v) {
    if (j.contains(k)) try {
        v = j[k].get<std::decay_t<decltype(v)>>();
      } catch (const std::exception&) {
      }
  };
  get("recent", recent);
  get("recent_images", recent_images);
  get("lr", lr);
  get("batch", batch);
  get("max_steps", max_steps);
  get("device", device);
  get("dataset", dataset);
  get("strip_frames", strip_frames);
  get("slerp", slerp);
  get("window_w", window_w);
  get("window_h", window_h);
  get("capture_dir", capture_dir);
  sanitize();
}

void Settings::sanitize() {
  // A hand-edited or damaged file must not abort start-up (GLFW refuses a window of -5 x 0) or
  // start a run with a learning rate of 1e9: values outside what the panels allow go back to the
  // defaults.
  const Settings d;
  auto keep = [](auto& v, auto lo, auto hi, auto fallback) {
    if (!(v >= lo && v <= hi)) v = fallback;  // also catches NaN
  };
  keep(lr, 1e-7, 1.0, d.lr);
  keep(batch, 1, 4096, d.batch);
  keep(max_steps, 0LL, 1LL << 40, d.max_steps);
  keep(strip_frames, 2, 32, d.strip_frames);
  keep(window_w, 320, 16384, d.window_w);
  keep(window_h, 240, 16384, d.window_h);
  if (capture_dir.empty()) capture_dir = d.capture_dir;
  for (auto* list : {&recent, &recent_images}) {
    std::erase_if(*list, [](const std::string& r) { return r.empty(); });
    if (list->size() > 10) list->resize(10);
  }
}

void Settings::save() const {
  json j = {{"recent", recent},
            {"recent_images", recent_images},
            {"lr", lr},
            {"batch", batch},
            {"max_steps", max_steps},
            {"device", device},
            {"dataset", dataset},
            {"strip_frames", strip_frames},
            {"slerp", slerp},
            {"window_w", window_w},
            {"window_h", window_h},
            {"capture_dir", capture_dir}};
  write_json(dir / "settings.json", j);
}

namespace {
void push_recent(std::vector<std::string>& list, const std::string& path) {
  std::error_code ec;
  std::string p = fs::weakly_canonical(path, ec).string();
  if (ec) p = path;
  list.erase(std::remove(list.begin(), list.end(), p), list.end());
  list.insert(list.begin(), p);
  if (list.size() > 10) list.resize(10);
}
}  // namespace

void Settings::add_recent(const std::string& path) { push_recent(recent, path); }
void Settings::add_recent_image(const std::string& path) { push_recent(recent_images, path); }

std::vector<SavedShelfEntry> load_shelf(const fs::path& dir) {
  json j = read_json(dir / "session.json");
  std::vector<SavedShelfEntry> out;
  if (!j.contains("shelf") || !j["shelf"].is_array()) return out;
  for (const auto& e : j["shelf"]) {
    try {
      SavedShelfEntry x{e.at("name").get<std::string>(), e.at("code").get<std::vector<float>>(),
                        e.value("source", std::string())};
      if (!x.code.empty() &&
          std::all_of(x.code.begin(), x.code.end(), [](float v) { return std::isfinite(v); }))
        out.push_back(std::move(x));
    } catch (const std::exception&) {
    }
  }
  return out;
}

void save_shelf(const fs::path& dir, const std::vector<SavedShelfEntry>& entries) {
  json arr = json::array();
  for (const auto& e : entries)
    arr.push_back({{"name", e.name}, {"code", e.code}, {"source", e.source}});
  write_json(dir / "session.json", json{{"shelf", arr}});
}

}  // namespace ali::explorer
