#include "task_runner.h"

#include "app_state.h"

namespace ali::explorer {

void TaskRunner::run(std::string name, std::function<Apply()> work) {
  auto wrapped = [work = std::move(work)]() -> Apply {
    try {
      return work();
    } catch (const std::exception& e) {
      std::string msg = describe_exception(e);
      return [msg](AppState& s) { s.error(msg); };
    }
  };
  tasks_.push_back({std::move(name), std::async(std::launch::async, std::move(wrapped))});
}

void TaskRunner::poll(AppState& s) {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++it;
      continue;
    }
    Apply apply = it->result.get();
    it = tasks_.erase(it);
    if (apply) apply(s);
  }
}

}  // namespace ali::explorer
