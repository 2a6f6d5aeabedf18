// The live views of the model: a fixed sample grid G(z) and test images above their
// reconstructions.
#pragma once
#include <string>
#include <vector>

#include "image.h"

namespace ali::explorer {

struct AppState;

struct LiveViews {
  explicit LiveViews(AppState& app);
  Image samples, recons;
  // Conditional models: the attributes each row of `samples` was drawn with (sample_grid_row_names).
  std::vector<std::vector<std::string>> sample_rows;
};

}  // namespace ali::explorer
