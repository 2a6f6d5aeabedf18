#include "ali/attributes.h"

#include <algorithm>

namespace ali {

namespace {
// Eight rows, so a 64-image grid in rows of 8 shows each once: alternately women and men, every hair
// colour, and the attributes the explorer's sweep shows off.
const std::vector<std::vector<std::string>>& showcase_rows() {
  static const std::vector<std::vector<std::string>> rows = {
      {"Black_Hair", "No_Beard"},
      {"Male", "Brown_Hair", "No_Beard"},
      {"Blond_Hair", "Smiling", "Mouth_Slightly_Open", "No_Beard"},
      {"Male", "Black_Hair", "Mustache", "Goatee"},
      {"Brown_Hair", "Wavy_Hair", "Eyeglasses", "No_Beard"},
      {"Male", "Gray_Hair", "Smiling", "No_Beard"},
      {"Blond_Hair", "Bangs", "Wearing_Hat", "No_Beard"},
      {"Male", "Bald", "Eyeglasses", "Mustache"},
  };
  return rows;
}
}  // namespace

std::vector<std::string> attributes_on(const std::vector<std::string>& names, const torch::Tensor& row) {
  std::vector<std::string> on;
  auto r = row.reshape({-1}).to(torch::kCPU, torch::kFloat);
  for (int64_t k = 0; k < r.size(0) && k < int64_t(names.size()); ++k)
    if (r[k].item<float>() > 0.5f) on.push_back(names[size_t(k)]);
  return on;
}

std::vector<std::string> attributes_on(const ModelConfig& c, const torch::Tensor& row) {
  return attributes_on(c.attributes, row);
}

std::vector<std::vector<std::string>> sample_grid_row_names(const ModelConfig& c, int64_t grid_rows) {
  if (!c.conditional() || grid_rows <= 0) return {};
  const auto& names = c.attributes;
  std::vector<std::vector<std::string>> cycle;
  if (!c.attributes_are_classes())
    for (const auto& row : showcase_rows()) {
      std::vector<std::string> present;
      for (const auto& n : row)
        if (std::find(names.begin(), names.end(), n) != names.end()) present.push_back(n);
      if (!present.empty() && std::find(cycle.begin(), cycle.end(), present) == cycle.end())
        cycle.push_back(present);
    }
  if (cycle.empty())
    for (const auto& n : names) cycle.push_back({n});
  std::vector<std::vector<std::string>> out;
  for (int64_t r = 0; r < grid_rows; ++r) out.push_back(cycle[size_t(r) % cycle.size()]);
  return out;
}

torch::Tensor sample_grid_attributes(const ModelConfig& c, int64_t n, int cols) {
  if (!c.conditional()) return {};
  const int64_t per_row = std::max(1, cols);
  const auto rows = sample_grid_row_names(c, (n + per_row - 1) / per_row);
  auto y = torch::zeros({n, int64_t(c.attributes.size())});
  for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
    auto slice = y.narrow(0, r * per_row, std::min(per_row, n - r * per_row));
    for (const auto& name : rows[size_t(r)]) request_attribute(c, slice, name, true);
  }
  return y;
}

}  // namespace ali
