// Slow work (loading data, decoding dropped files, writing files) on short-lived background
// threads. A task returns a closure that the main thread runs when it collects the task (ImHex's
// doLater): only the main thread touches the AppState and OpenGL.
#pragma once
#include <chrono>
#include <functional>
#include <future>
#include <list>
#include <string>

#include "ali/error.h"

namespace ali::explorer {

struct AppState;
using Apply = std::function<void(AppState&)>;

class TaskRunner {
 public:
  ~TaskRunner() { wait_all(); }
  // `work` runs on its own thread; what it returns runs later on the main thread. An exception
  // becomes an error message in the window.
  void run(std::string name, std::function<Apply()> work);
  // Collects finished tasks; runs their closures (main thread).
  void poll(AppState& s);
  bool busy() const { return !tasks_.empty(); }
  bool busy(const std::string& name) const {
    for (const auto& t : tasks_)
      if (t.name == name) return true;
    return false;
  }
  void wait_all() {
    for (auto& t : tasks_) t.result.wait();
  }

 private:
  struct Task {
    std::string name;
    std::future<Apply> result;
  };
  std::list<Task> tasks_;
};

}  // namespace ali::explorer
