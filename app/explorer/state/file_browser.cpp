#include "file_browser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "ali/checkpoint.h"
#include "ali/image_io.h"
#include "run_watch.h"

namespace fs = std::filesystem;

namespace ali::explorer {

void FileBrowser::open(BrowsePurpose purpose, const fs::path& start) {
  purpose_ = purpose;
  selected_.clear();
  error_.clear();
  open_ = true;
  std::error_code ec;
  fs::path dir = start;
  if (!dir.empty() && !fs::is_directory(dir, ec)) dir = dir.parent_path();
  if (dir.empty() || !fs::is_directory(dir, ec)) dir = fs::current_path(ec);
  if (!go(dir)) go(fs::path("/"));
}

namespace {
// As file dialogs list them: letters of either case together ("a.png", "B.png", "c.png"), ties
// byte-wise. Each name lower-cased once (a CelebA image folder holds 202,599 files).
void sort_by_name(std::vector<BrowseEntry>& entries) {
  std::vector<std::pair<std::string, size_t>> keys;
  keys.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string k = entries[i].name;
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    keys.emplace_back(std::move(k), i);
  }
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : entries[a.second].name < entries[b.second].name;
  });
  std::vector<BrowseEntry> sorted;
  sorted.reserve(entries.size());
  for (const auto& k : keys) sorted.push_back(std::move(entries[k.second]));
  entries = std::move(sorted);
}
}  // namespace

bool FileBrowser::accepts(const fs::path& file) const {
  if (purpose_ == BrowsePurpose::AddImages) return has_image_extension(file);
  if (purpose_ == BrowsePurpose::WatchRun) return false;  // folders are what it chooses
  return has_checkpoint_extension(file);
}

bool FileBrowser::go(const fs::path& folder) {
  std::error_code ec;
  fs::path dir = fs::absolute(folder, ec).lexically_normal();
  if (ec) dir = folder;
  std::vector<BrowseEntry> folders, files;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    error_ = dir.string() + ": " + ec.message();
    return false;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code e2;
    if (it->is_directory(e2)) {
      folders.push_back({name, true, purpose_ == BrowsePurpose::WatchRun && is_run_folder(it->path()), 0});
    } else if (it->is_regular_file(e2) && (show_all_ || accepts(it->path()))) {
      files.push_back({name, false, false, it->file_size(e2)});
    }
  }
  sort_by_name(folders);
  sort_by_name(files);
  entries_ = std::move(folders);
  entries_.insert(entries_.end(), files.begin(), files.end());
  if (dir != dir_) selected_.clear();
  dir_ = dir;
  error_.clear();
  return true;
}

void FileBrowser::set_show_all(bool on) {
  show_all_ = on;
  go(dir_);
}

void FileBrowser::click(const std::string& name) {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const BrowseEntry& e) { return e.name == name; });
  if (it == entries_.end()) return;
  if (it->folder) {
    go(dir_ / name);
    return;
  }
  if (purpose_ == BrowsePurpose::OpenModel) {
    selected_ = {name};
  } else if (!selected_.erase(name)) {
    selected_.insert(name);
  }
}

bool FileBrowser::can_take() const {
  return purpose_ == BrowsePurpose::WatchRun ? is_run_folder(dir_) : !selected_.empty();
}

std::vector<std::string> FileBrowser::take() {
  std::vector<std::string> out;
  if (purpose_ == BrowsePurpose::WatchRun) {
    if (is_run_folder(dir_)) {
      out.push_back(dir_.string());
      open_ = false;
    }
    return out;
  }
  for (const auto& name : selected_) out.push_back((dir_ / name).string());
  if (!out.empty()) open_ = false;
  return out;
}

namespace {
bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::error_code ec;
    if (!dir.empty() && fs::exists(fs::path(dir) / program, ec)) return true;
  }
  return false;
}

std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

std::optional<std::string> desktop_dialog_command(BrowsePurpose purpose, const fs::path& start) {
  const char* choice = std::getenv("ALI_FILE_DIALOG");
  if (choice && std::string(choice) == "builtin") return std::nullopt;
  std::string dir = (start.empty() ? fs::current_path() : start).string() + "/";
  bool images = purpose == BrowsePurpose::AddImages;
  if (purpose == BrowsePurpose::WatchRun) {
    if (on_path("zenity"))
      return "zenity --file-selection --directory --title='Watch a run folder' --filename=" + shell_quoted(dir) +
             " 2>/dev/null";
    if (on_path("kdialog")) return "kdialog --getexistingdirectory " + shell_quoted(dir) + " 2>/dev/null";
    return std::nullopt;
  }
  if (on_path("zenity")) {
    std::string cmd = "zenity --file-selection --title=" + shell_quoted(images ? "Add images" : "Open model") +
                      " --filename=" + shell_quoted(dir);
    if (images)
      cmd += " --multiple --separator='\n' --file-filter='Images | *.png *.jpg *.jpeg *.bmp *.gif *.tga *.ppm *.pgm'";
    else
      cmd += " --file-filter='ALI models | *.ali'";
    return cmd + " 2>/dev/null";
  }
  if (on_path("kdialog")) {
    std::string cmd = std::string("kdialog --getopenfilename ") + (images ? "--multiple --separate-output " : "") +
                      shell_quoted(dir) + " " + shell_quoted(images ? "*.png *.jpg *.jpeg *.bmp *.gif" : "*.ali");
    return cmd + " 2>/dev/null";
  }
  return std::nullopt;
}

std::vector<std::string> run_desktop_dialog(const std::string& command) {
  std::vector<std::string> out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  std::string text;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  int rc = ::pclose(p);
  if (rc != 0) return out;  // cancelled
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace ali::explorer
