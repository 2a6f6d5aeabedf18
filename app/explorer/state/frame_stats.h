// Rolling frame-time statistics (p50/p95/max over the last few hundred frames).
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

namespace ali::explorer {

class FrameStats {
 public:
  explicit FrameStats(size_t window = 300) : window_(window) {}
  void add(double ms) {
    if (samples_.size() < window_)
      samples_.push_back(ms);
    else
      samples_[next_] = ms;
    next_ = (next_ + 1) % window_;
    ++count_;
    if (count_ % 15 == 0) recompute();
  }
  double p50() const { return p50_; }
  double p95() const { return p95_; }
  double max() const { return max_; }
  size_t count() const { return count_; }
  void recompute() {
    if (samples_.empty()) return;
    std::vector<double> s = samples_;
    std::sort(s.begin(), s.end());
    p50_ = s[s.size() / 2];
    p95_ = s[std::min(s.size() - 1, s.size() * 95 / 100)];
    max_ = s.back();
  }
  void reset() {
    samples_.clear();
    next_ = 0;
    count_ = 0;
    p50_ = p95_ = max_ = 0;
  }

 private:
  size_t window_;
  std::vector<double> samples_;
  size_t next_ = 0, count_ = 0;
  double p50_ = 0, p95_ = 0, max_ = 0;
};

}  // namespace ali::explorer
