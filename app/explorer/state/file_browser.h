// Choosing files for Open model and Add images: the desktop's own dialog where one is installed
// (zenity or kdialog, run off the UI thread), else an in-window browser whose state lives here
// (folders, the files a purpose accepts, a multi-selection for images), drawn by the GUI.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ali::explorer {

// WatchRun chooses a folder (a run folder: log.csv or checkpoint.ali inside), the others files.
enum class BrowsePurpose { OpenModel, AddImages, WatchRun };

struct BrowseEntry {
  std::string name;
  bool folder = false;
  bool run = false;  // WatchRun: a folder `ali train --out` wrote
  uintmax_t size = 0;
};

class FileBrowser {
 public:
  // Starts browsing `start` (a folder, or a file's folder; the current folder when empty or gone).
  void open(BrowsePurpose purpose, const std::filesystem::path& start);
  void close() { open_ = false; }
  bool is_open() const { return open_; }
  BrowsePurpose purpose() const { return purpose_; }

  // Lists the folder: sub-folders first, then the files the purpose accepts (all files with
  // show_all), both sorted; hidden entries left out. An unreadable folder keeps the old listing and
  // sets error().
  bool go(const std::filesystem::path& folder);
  bool up() { return go(dir_.parent_path()); }
  void set_show_all(bool on);
  bool show_all() const { return show_all_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::vector<BrowseEntry>& entries() const { return entries_; }
  const std::string& error() const { return error_; }

  // Selecting a file: one for models, any number for images (toggled). A folder is entered.
  void click(const std::string& name);
  const std::set<std::string>& selected() const { return selected_; }
  // The chosen paths (absolute), then closes; empty when nothing is selected. WatchRun: the folder
  // shown, when it is a run folder.
  std::vector<std::string> take();
  bool can_take() const;

  bool accepts(const std::filesystem::path& file) const;

 private:
  bool open_ = false;
  BrowsePurpose purpose_ = BrowsePurpose::OpenModel;
  bool show_all_ = false;
  std::filesystem::path dir_;
  std::vector<BrowseEntry> entries_;
  std::set<std::string> selected_;
  std::string error_;
};

// The desktop's file dialog as a command line (zenity, else kdialog, found on PATH), or nullopt when
// neither is installed or ALI_FILE_DIALOG=builtin. Its output: the chosen paths, one per line.
std::optional<std::string> desktop_dialog_command(BrowsePurpose purpose, const std::filesystem::path& start);
// Runs it (blocking: call it off the UI thread); the chosen paths, none when cancelled.
std::vector<std::string> run_desktop_dialog(const std::string& command);

}  // namespace ali::explorer
