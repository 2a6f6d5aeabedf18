// Watching a run folder that another process trains into (`ali train --out DIR` here, a distributed
// run, a server's folder mounted on the desktop): its log.csv feeds the Train panel's curves as rows
// are appended, and each checkpoint.ali that lands is loaded (off the UI thread) and becomes the model
// every view draws with, so samples, reconstructions, drops and the shelf follow the run. Read-only:
// nothing is ever written into the folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ali/trainer.h"

namespace ali::explorer {

struct AppState;

// A folder written by `ali train --out`: it holds log.csv or checkpoint.ali.
bool is_run_folder(const std::filesystem::path& p);

// log.csv read as it grows: only complete lines are taken; a file that shrank or was replaced (a new
// run, a resume that trimmed rows) is read again from the start; a row whose step is not after the
// previous one replaces the rows from that step on (a resumed run repeats steps after its checkpoint).
// Bad rows are skipped and counted, never fatal.
class RunLog {
 public:
  // Appends what `text` (the file's bytes from offset()) holds in complete lines.
  void feed(const std::string& text);
  void reset();
  uint64_t offset() const { return offset_; }  // bytes consumed so far
  const std::vector<StepStats>& rows() const { return rows_; }
  const std::vector<double>& wall() const { return wall_; }  // wall_s of each row
  int64_t last_step() const { return rows_.empty() ? -1 : rows_.back().step; }
  int64_t bad_rows() const { return bad_rows_; }
  bool has_header() const { return names_ != nullptr; }
  // Steps per second over the last rows (0 when unknown).
  double steps_per_second() const;
  size_t limit = 20000;  // rows kept (older ones thinned, as the training session's history)

 private:
  void take_line(const std::string& line);
  uint64_t offset_ = 0;
  std::shared_ptr<const std::vector<std::string>> names_;  // metric columns
  std::vector<StepStats> rows_;
  std::vector<double> wall_;
  int64_t bad_rows_ = 0;
};

class RunWatch {
 public:
  explicit RunWatch(AppState& app);

  // Starts following `folder` (replacing any other); an error in the window when it is no run folder.
  bool watch(const std::filesystem::path& folder);
  void stop();  // stops following (the model loaded last stays)
  bool active() const { return !folder_.empty(); }
  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path checkpoint_path() const { return folder_ / "checkpoint.ali"; }

  // Once a frame: looks at the folder every `interval` seconds; reads new log rows and loads a changed
  // checkpoint in the background.
  void poll();
  double interval = 0.5;

  const RunLog& log() const { return log_; }
  int64_t checkpoint_step() const { return checkpoint_step_; }  // -1 before the first
  int checkpoints_loaded() const { return loaded_; }
  double since_change() const;  // seconds since the folder last changed (log or checkpoint)
  std::string status() const;   // one line for the panel and scripted runs

 private:
  struct FileStamp {
    int64_t size = -1;
    int64_t mtime_ns = 0;
    uint64_t inode = 0;
    bool operator==(const FileStamp& o) const {
      return size == o.size && mtime_ns == o.mtime_ns && inode == o.inode;
    }
    bool operator!=(const FileStamp& o) const { return !(*this == o); }
  };
  static FileStamp stamp(const std::filesystem::path& p);
  void read_log(const FileStamp& now);
  void load_checkpoint(const FileStamp& now);

  AppState& app_;
  std::filesystem::path folder_;
  uint64_t generation_ = 0;  // bumps on watch/stop: late results of an older watch are dropped
  RunLog log_;
  FileStamp log_stamp_, ckpt_stamp_, failed_stamp_;
  bool log_busy_ = false, ckpt_busy_ = false;
  bool log_more_ = false;  // the last look stopped at its read limit: read on at the next
  int64_t checkpoint_step_ = -1;
  int loaded_ = 0;
  double checked_at_ = -1e9, changed_at_ = 0;
};

}  // namespace ali::explorer
