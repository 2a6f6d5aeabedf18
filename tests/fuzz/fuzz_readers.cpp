// The seeded mutation campaign over the readers that untrusted files reach (ctest runs it):
//   ali_fuzz TARGET [--cases N] [--seed S] [--only CASE] [--save DIR]
//   ali_fuzz TARGET --write-seeds DIR    (the valid inputs, as a corpus for the libFuzzer targets)
// Case i mutates seed input i % seeds with a generator seeded by (S, i), so any case can be
// replayed alone (--only). Cases run in a child process, so that a crash or a hang is counted, not
// fatal: the child records each case's outcome in shared memory; when it dies on a signal the case
// it was running is a crash, when it stops making progress for 20 s it is killed and the case is a
// hang. The child's address space is capped, so a reader that allocates without bound fails
// visibly. Outcomes: success, clean error (ali::Error), unclean error (any other exception: raw
// library text), crash, hang. Exit status 0 only when every case ended in success or a clean error.
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <thread>

#include "ali/error.h"
#include "fuzz_targets.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALI_FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ALI_FUZZ_SANITIZED 1
#endif
#endif

namespace fs = std::filesystem;
using namespace ali::fuzz;

namespace {

enum Outcome : uint8_t { NotRun, Success, Clean, Unclean, Crash, Hang };
constexpr int kMessages = 8;

struct Shared {
  std::atomic<int64_t> current{-1};
  std::atomic<int64_t> progress{0};  // bumped per case, watched for hangs
  std::atomic<int> messages{0};
  char message[kMessages][400];
  Outcome outcome[1];  // really `cases` long
};

size_t address_space_now() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * size_t(::sysconf(_SC_PAGESIZE));
}

void note(Shared* sh, int64_t i, const std::string& what) {
  int k = sh->messages.fetch_add(1);
  if (k < kMessages)
    std::snprintf(sh->message[k], sizeof sh->message[k], "case %lld: %s", (long long)i,
                  what.c_str());
}

[[noreturn]] void child(Shared* sh, const std::string& target,
                        const std::vector<std::string>& seeds, int64_t from, int64_t cases,
                        uint64_t seed, int64_t only, const fs::path& dir) {
  // A reader may use at most 2 GiB beyond what the process already holds.
  // (Not under a sanitizer: its shadow memory is reserved address space.)
#ifndef ALI_FUZZ_SANITIZED
  rlimit lim{address_space_now() + (size_t(2) << 30), RLIM_INFINITY};
  lim.rlim_max = lim.rlim_cur;
  ::setrlimit(RLIMIT_AS, &lim);
#endif
  for (int64_t i = from; i < cases; ++i) {
    if (only >= 0 && i != only) continue;
    sh->current = i;
    ++sh->progress;
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(i));
    std::string input = mutate(target, seeds[size_t(i) % seeds.size()], rng);
    Outcome o = Success;
    try {
      run_target(target, input, dir);
    } catch (const ali::Error&) {
      o = Clean;
    } catch (const std::exception& e) {
      o = Unclean;
      note(sh, i, ali::describe_exception(e).substr(0, 300));
    }
    sh->outcome[i] = o;
  }
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: ali_fuzz TARGET [--cases N] [--seed S] [--only CASE] [--save DIR]\n";
    return 2;
  }
  std::string target = argv[1];
  int64_t cases = 2000, only = -1;
  uint64_t seed = 1;
  fs::path save;
  for (int a = 2; a + 1 < argc; a += 2) {
    std::string k = argv[a], v = argv[a + 1];
    if (k == "--cases")
      cases = std::stoll(v);
    else if (k == "--seed")
      seed = std::stoull(v);
    else if (k == "--only")
      only = std::stoll(v);
    else if (k == "--save")
      save = v;
    else if (k == "--write-seeds") {
      fs::create_directories(v);
      auto seeds = seed_inputs(target);
      for (size_t i = 0; i < seeds.size(); ++i)
        std::ofstream(fs::path(v) / ("seed-" + std::to_string(i)), std::ios::binary) << seeds[i];
      return 0;
    } else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (only >= cases) cases = only + 1;
  torch::set_num_threads(1);  // no thread pool exists when the children fork
  std::vector<std::string> seeds;
  try {
    seeds = seed_inputs(target);
  } catch (const std::exception& e) {
    std::cerr << "ali_fuzz: " << ali::describe_exception(e) << "\n";
    return 2;
  }
  fs::path dir =
      fs::temp_directory_path() / ("ali-fuzz-" + target + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  size_t bytes = sizeof(Shared) + size_t(cases);
  auto* sh = static_cast<Shared*>(
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (sh) Shared();
  auto t0 = std::chrono::steady_clock::now();
  int64_t from = 0;
  while (from < cases) {
    sh->current = -1;
    pid_t pid = ::fork();
    if (pid == 0) child(sh, target, seeds, from, cases, seed, only, dir);
    int64_t seen = sh->progress;
    auto last_change = std::chrono::steady_clock::now();
    int status = 0;
    bool hung = false;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (sh->progress != seen) {
        seen = sh->progress;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > std::chrono::seconds(20)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        hung = true;
        break;
      }
    }
    int64_t at = sh->current;
    if (!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0) break;
    if (at < 0) {
      std::cerr << "ali_fuzz: the child died before running a case\n";
      return 2;
    }
    sh->outcome[at] = hung ? Hang : Crash;
    note(sh, at,
         hung
             ? "hang"
             : (WIFSIGNALED(status) ? std::string("crash: ") + strsignal(WTERMSIG(status))
                                    : "exited with status " + std::to_string(WEXITSTATUS(status))));
    if (!save.empty()) {  // keep the input for replaying under a debugger
      std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(at));
      std::string input = mutate(target, seeds[size_t(at) % seeds.size()], rng);
      fs::create_directories(save);
      std::ofstream(save / (target + "-" + std::to_string(at) + ".bin"), std::ios::binary) << input;
    }
    from = at + 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t count[6] = {};
  for (int64_t i = 0; i < cases; ++i) ++count[sh->outcome[i]];
  int64_t ran = cases - count[NotRun];
  std::cout << "fuzz " << target << ": " << ran << " cases in " << std::fixed
            << std::setprecision(1) << secs << " s: " << count[Success] << " success, "
            << count[Clean] << " clean error, " << count[Unclean] << " unclean error, "
            << count[Crash] << " crash, " << count[Hang] << " hang\n";
  for (int k = 0; k < std::min(sh->messages.load(), kMessages); ++k)
    std::cout << "  " << sh->message[k] << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return count[Unclean] + count[Crash] + count[Hang] == 0 ? 0 : 1;
}
