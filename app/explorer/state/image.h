// A view's picture as 8-bit pixels with a version. The explorer's state holds these, never GL
// objects; the GUI's TextureCache (gl_image.h) uploads each version once, so the state is testable
// without a display.
#pragma once
#include <atomic>
#include <cstdint>

#include "ali/inference_worker.h"

namespace ali::explorer {

struct Image {
  PixelBuffer pixels;
  uint64_t version = 0;  // unique over all images of the program; 0 = nothing to show yet

  void set(PixelBuffer p) {
    static std::atomic<uint64_t> next{1};
    pixels = std::move(p);
    version = next++;
  }
  void clear() {
    pixels = {};
    version = 0;
  }
  bool empty() const { return version == 0 || pixels.empty(); }
};

}  // namespace ali::explorer
