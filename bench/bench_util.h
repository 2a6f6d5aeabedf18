// What the benchmark programs share: medians and process CPU time.
#pragma once
#include <algorithm>
#include <ctime>
#include <vector>

namespace ali::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// CPU time of the whole process (all threads) in ms: with one thread it is what the work would take on
// an idle core, so it stays meaningful while other work shares the machine.
inline double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

}  // namespace ali::bench
