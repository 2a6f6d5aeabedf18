#include "ali/error.h"

#include <c10/util/Exception.h>

namespace ali {

std::string describe_exception(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

}  // namespace ali
