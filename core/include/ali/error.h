// User-facing errors. Everything that input can reach throws ali::Error with a message a user can act
// on; programs catch it (and c10::Error) at their edge.
#pragma once
#include <stdexcept>
#include <string>

namespace ali {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The message of any exception without LibTorch's C++ backtrace.
std::string describe_exception(const std::exception& e);

}  // namespace ali
