// The latent map: the test set encoded, projected on its two principal components. Points can be
// hovered (their image) and clicked (their code into the inspector and as an interpolation
// endpoint).
#pragma once
#include <vector>

#include "ali/models.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

class LatentMap {
 public:
  explicit LatentMap(AppState& app);

  torch::Tensor codes;          // N x nlat
  torch::Tensor points;         // N x 2 (PCA)
  std::vector<int64_t> labels;  // N, or empty when unlabelled
  float explained[2] = {0, 0};
  uint64_t version = 0;      // bumps with every new map
  int picked[2] = {-1, -1};  // the last two clicked points (interpolation endpoints)
  int next_pick = 0;
  int hovered = -1;
  bool follow = false;  // re-encode every 10 s while training

  void request();                       // encode the test set again with the current model
  void pick(int index);                 // a clicked point: inspector and the next endpoint
  const Image& hover_image(int index);  // the test image of a point
  void poll();                          // once a frame: following training
  void model_adopted();

 private:
  friend class MapView;
  AppState& app_;
  uint64_t requests_ = 0;
  double requested_at_ = -1e9;
  Image hover_;
  int hover_index_ = -1;
};

}  // namespace ali::explorer
