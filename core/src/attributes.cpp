#include "ali/attributes.h"

namespace ali {

torch::Tensor sample_grid_attributes(const ModelConfig& c, int64_t n, int cols) {
  if (!c.conditional()) return {};
  auto k = int64_t(c.attributes.size());
  auto cls = torch::arange(n, torch::kLong).div(cols, "floor").remainder(k);
  return torch::one_hot(cls, k).to(torch::kFloat);
}

}  // namespace ali
