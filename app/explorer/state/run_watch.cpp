#include "run_watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "ali/checkpoint.h"
#include "ali/text.h"
#include "app_state.h"

namespace fs = std::filesystem;

namespace ali::explorer {

namespace {
constexpr uint64_t kMaxRead = 64ull << 20;  // bytes of log read per look (a longer log takes several)

bool regular_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) out.push_back(field);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}
}  // namespace

bool is_run_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && (regular_file(p / "log.csv") || regular_file(p / "checkpoint.ali"));
}

// ---------------------------------------------------------------------------------------------
// RunLog

void RunLog::reset() { *this = RunLog{}; }

void RunLog::feed(const std::string& text) {
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;  // an incomplete last line waits for the rest
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    take_line(line);
    start = nl + 1;
  }
  offset_ += start;
}

void RunLog::take_line(const std::string& line) {
  if (line.empty()) return;
  auto fields = split_commas(line);
  if (!names_) {
    if (fields.size() < 4 || fields[0] != "step" || fields[2] != "loss_d" || fields[3] != "loss_g") {
      ++bad_rows_;
      return;
    }
    names_ = std::make_shared<const std::vector<std::string>>(fields.begin() + 4, fields.end());
    return;
  }
  if (fields.size() != names_->size() + 4) {
    ++bad_rows_;
    return;
  }
  std::vector<double> v(fields.size());
  for (size_t i = 0; i < fields.size(); ++i)
    if (!parse_number(fields[i], v[i]) && i < 2) {  // a metric may read "nan"; step and time may not
      ++bad_rows_;
      return;
    }
  StepStats s;
  s.step = int64_t(v[0]);
  s.d_loss = v[2];
  s.g_loss = v[3];
  s.metrics.assign(v.begin() + 4, v.end());
  s.metric_names = names_;
  if (!rows_.empty() && s.step <= rows_.back().step) {  // a resume repeats the steps after its checkpoint
    auto from = std::lower_bound(rows_.begin(), rows_.end(), s.step,
                                 [](const StepStats& r, int64_t st) { return r.step < st; });
    wall_.resize(size_t(from - rows_.begin()));
    rows_.erase(from, rows_.end());
  }
  rows_.push_back(std::move(s));
  wall_.push_back(v[1]);
  if (rows_.size() > limit) {  // keep every other entry of the older half
    std::vector<StepStats> rows;
    std::vector<double> wall;
    for (size_t i = 0; i < rows_.size(); i += (i < rows_.size() / 2 ? 2 : 1)) {
      rows.push_back(std::move(rows_[i]));
      wall.push_back(wall_[i]);
    }
    rows_ = std::move(rows);
    wall_ = std::move(wall);
  }
}

double RunLog::steps_per_second() const {
  if (rows_.size() < 2) return 0;
  size_t last = rows_.size() - 1, first = last;
  // Back over at most 50 rows of one process (wall_s starts again at 0 when a run is resumed).
  while (first > 0 && last - first < 50 && wall_[first - 1] <= wall_[first]) --first;
  double dt = wall_[last] - wall_[first];
  if (first == last || dt <= 0) return 0;
  return double(rows_[last].step - rows_[first].step) / dt;
}

// ---------------------------------------------------------------------------------------------
// RunWatch

RunWatch::RunWatch(AppState& app) : app_(app) {}

RunWatch::FileStamp RunWatch::stamp(const fs::path& p) {
  struct stat st {};
  FileStamp s;
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return s;  // absent (or no regular file)
  s.size = int64_t(st.st_size);
  s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.inode = uint64_t(st.st_ino);
  return s;
}

bool RunWatch::watch(const fs::path& folder) {
  std::error_code ec;
  fs::path dir = fs::absolute(folder, ec).lexically_normal();
  if (ec) dir = folder;
  if (!dir.empty() && !dir.has_filename()) dir = dir.parent_path();  // "run/" -> "run"
  if (!fs::is_directory(dir, ec)) {
    app_.error(dir.string() + ": no such folder to watch");
    return false;
  }
  if (!is_run_folder(dir)) {
    app_.error(dir.string() + " is not a run folder (it holds neither log.csv nor checkpoint.ali)");
    return false;
  }
  stop();
  folder_ = dir;
  changed_at_ = app_.now();
  app_.info("watching the run in " + dir.string() + " (read-only: new log rows and checkpoints appear here)");
  poll();
  return true;
}

void RunWatch::stop() {
  if (active()) app_.info("stopped watching " + folder_.string());
  ++generation_;
  folder_.clear();
  log_.reset();
  log_stamp_ = ckpt_stamp_ = failed_stamp_ = FileStamp{};
  log_busy_ = ckpt_busy_ = log_more_ = false;
  checkpoint_step_ = -1;
  loaded_ = 0;
  checked_at_ = -1e9;
}

double RunWatch::since_change() const { return active() ? app_.now() - changed_at_ : 0; }

void RunWatch::poll() {
  if (!active() || app_.now() - checked_at_ < interval) return;
  checked_at_ = app_.now();
  FileStamp log_now = stamp(folder_ / "log.csv");
  // Changed, or the last look stopped at kMaxRead.
  if (!log_busy_ && log_now.size >= 0 && (log_now != log_stamp_ || log_more_)) read_log(log_now);
  FileStamp ckpt_now = stamp(checkpoint_path());
  if (!ckpt_busy_ && ckpt_now.size >= 0 && ckpt_now != ckpt_stamp_ && ckpt_now != failed_stamp_)
    load_checkpoint(ckpt_now);
}

void RunWatch::read_log(const FileStamp& now) {
  // A log that shrank or is another file (a new run in this folder) is read again from the start.
  RunLog log = log_;
  if (now.inode != log_stamp_.inode || uint64_t(now.size) < log.offset()) log.reset();
  log_busy_ = true;
  const fs::path path = folder_ / "log.csv";
  const uint64_t gen = generation_;
  app_.tasks.run("watch-log", [path, log = std::move(log), now, gen]() mutable -> Apply {
    std::string failed;
    try {
      std::ifstream in(path, std::ios::binary);
      if (!in) throw Error("cannot read " + path.string());
      in.seekg(std::streamoff(log.offset()));
      uint64_t want = std::min<uint64_t>(kMaxRead, uint64_t(std::max<int64_t>(0, now.size)) - log.offset());
      std::string text(want, '\0');
      in.read(text.data(), std::streamsize(want));
      text.resize(size_t(in.gcount()));
      log.feed(text);
    } catch (const std::exception& e) {
      failed = describe_exception(e);
    }
    return [log = std::move(log), now, gen, failed](AppState& s) mutable {
      RunWatch& w = s.watch;
      if (gen != w.generation_) return;
      w.log_busy_ = false;
      if (!failed.empty()) {
        w.log_stamp_ = now;  // not again until it changes
        w.log_more_ = false;
        return s.error(failed);
      }
      bool grew = log.last_step() != w.log_.last_step() || log.rows().size() != w.log_.rows().size();
      w.log_more_ = log.offset() + kMaxRead <= uint64_t(now.size);
      w.log_ = std::move(log);
      w.log_stamp_ = now;
      if (grew) w.changed_at_ = s.now();
      s.host.history = w.log_.rows();
    };
  });
}

void RunWatch::load_checkpoint(const FileStamp& now) {
  ckpt_busy_ = true;
  const fs::path path = checkpoint_path();
  const uint64_t gen = generation_;
  app_.tasks.run("watch-checkpoint", [path, now, gen]() -> Apply {
    std::shared_ptr<AliModel> m;
    CheckpointHeader h;
    std::string failed;
    try {
      m = load_model(path, torch::kCPU, &h);
    } catch (const std::bad_alloc&) {
      failed = "not enough memory to load it";
    } catch (const std::exception& e) {
      failed = describe_exception(e);
    }
    return [m, h, path, now, gen, failed](AppState& s) {
      RunWatch& w = s.watch;
      if (gen != w.generation_) return;
      w.ckpt_busy_ = false;
      if (!failed.empty()) {
        // A damaged checkpoint: said once, the model loaded before stays; a new one is tried.
        w.failed_stamp_ = now;
        return s.error("watched run: " + path.string() + ": " + failed);
      }
      w.ckpt_stamp_ = now;
      w.checkpoint_step_ = h.step;
      ++w.loaded_;
      w.changed_at_ = s.now();
      s.host.follow(m, h, path.string());
      s.host.history = w.log_.rows();  // a model of another shape was adopted: its curves again
    };
  });
}

std::string RunWatch::status() const {
  if (!active()) return "not watching";
  std::ostringstream o;
  o << "watching " << folder_.string() << " | log step " << log_.last_step();
  double rate = log_.steps_per_second();
  if (rate > 0) o << " (" << std::fixed << std::setprecision(2) << rate << " it/s)";
  o << " | checkpoint ";
  if (checkpoint_step_ >= 0)
    o << "step " << checkpoint_step_ << " (" << loaded_ << " loaded)";
  else
    o << "not yet written";
  if (log_.bad_rows()) o << " | " << log_.bad_rows() << " unreadable log rows";
  return o.str();
}

}  // namespace ali::explorer
