// The Explore panel's state: the inspector's code, two interpolation endpoints and the path between
// them, and a sweep of one latent dimension. Every image here is G(z, y) with the Attributes
// panel's y.
#pragma once
#include <string>
#include <vector>

#include "image.h"

namespace ali::explorer {

struct AppState;

// An interpolation endpoint: a shelf entry, a fixed code (e.g. a map point) or a seeded random
// code.
struct Endpoint {
  uint64_t shelf_id = 0;    // 0: not a shelf entry
  std::vector<float> code;  // a fixed code, when not a shelf entry
  std::string label;        // of the fixed code
  uint64_t seed = 1;        // otherwise: a seeded random code
};

class Explore {
 public:
  explicit Explore(AppState& app);

  // Inspector.
  std::vector<float> inspect_code, inspect_origin;
  std::string inspect_source = "random";
  Image inspect;       // G(inspect_code, y)
  int sweep_dim = -1;  // the dimension swept (-1: none), from -3 to 3 around inspect_code
  Image dim_sweep;
  static constexpr int kDimSweepFrames = 9;
  // Interpolation.
  Endpoint ends[2];
  float t = 0.5f;
  bool slerp = true;
  int strip_frames = 8;
  Image interp, strip;
  std::vector<int> dim_order;  // most variable first (from the latent map), else empty

  void set_inspect(std::vector<float> code, const std::string& source);
  void reset_inspect() { inspect_code = inspect_origin; }
  void set_endpoint(int k, uint64_t shelf_id);
  void set_endpoint(int k, std::vector<float> code, const std::string& label);
  // The endpoint's code for the loaded model (a seeded random one when the shelf entry does not
  // fit).
  std::vector<float> endpoint_code(const Endpoint& e) const;
  std::string endpoint_name(const Endpoint& e) const;
  void export_strip(bool gif);  // to the capture folder, PNG strip or a back-and-forth GIF
  void save_capture();          // the inspector's image to the capture folder
  void model_adopted();         // a code of the new latent size when the old one does not fit

 private:
  AppState& app_;
};

std::string format_code(const std::vector<float>& code);
// Accepts numbers separated by commas, spaces or newlines, optionally in [ ]. Throws ali::Error.
std::vector<float> parse_code(const std::string& text, int nlat);

}  // namespace ali::explorer
