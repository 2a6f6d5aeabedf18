// The live views of the model: a fixed sample grid G(z) and test images above their
// reconstructions.
#pragma once
#include "ali/models.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

struct LiveViews {
  explicit LiveViews(AppState& app);
  Image samples, recons;
};

// Attributes for `n` rows in rows of `cols`: conditional models get one class per row, as in the
// CLI's grids.
torch::Tensor grid_attributes(const ModelConfig& c, int64_t n, int cols);

}  // namespace ali::explorer
