// Small text formatting shared by the command line and the explorer.
#pragma once
#include <string>
#include <vector>

namespace ali {

// "42s", "3m05s", "1h02m03s"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);
// "a, b, c" (empty for no items).
std::string joined(const std::vector<std::string>& items);

}  // namespace ali
