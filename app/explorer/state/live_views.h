// The live views of the model: a fixed sample grid G(z) and test images above their
// reconstructions.
#pragma once
#include "image.h"

namespace ali::explorer {

struct AppState;

struct LiveViews {
  explicit LiveViews(AppState& app);
  Image samples, recons;
};

}  // namespace ali::explorer
