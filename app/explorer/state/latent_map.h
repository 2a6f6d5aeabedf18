// The latent map: the test set encoded and laid out in 2-D, by t-SNE (neighbours kept together: the
// clusters the codes have) or on the codes' two principal components. Points can be hovered (their
// image) and clicked (their code into the inspector and as an interpolation endpoint).
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ali/data.h"
#include "ali/models.h"
#include "image.h"

namespace ali::explorer {

struct AppState;

enum class MapLayout { Tsne, Pca };

class LatentMap {
 public:
  explicit LatentMap(AppState& app);

  torch::Tensor codes;          // N x nlat
  torch::Tensor points;         // N x 2: the layout shown (PCA until the t-SNE layout is ready)
  torch::Tensor pca_points;     // N x 2
  torch::Tensor tsne_points;    // N x 2, undefined until computed
  std::vector<int64_t> labels;  // N: what colours the points (classes or colour_attribute), or empty
  // Attribute sets (CelebA layout): the points' attribute rows, the attributes that vary among them
  // (on for 2 % to 98 % of the points) and the one that colours them (-1: the classes, if any).
  torch::Tensor attributes;  // N x K in {0, 1}, or undefined
  std::vector<std::string> attribute_names;
  std::vector<int> varying;
  int colour_attribute = -1;
  void colour_by(int attribute);
  std::string point_attributes(int index) const;  // "Male, Smiling": the attributes on at a point
  // The points' test images, when the map has few enough to draw them on it (a face model's
  // sample set), else empty.
  static constexpr int kMaxThumbnails = 256;
  std::vector<Image> thumbnails;
  float explained[2] = {0, 0};  // of the PCA layout
  std::string layout_note;      // why t-SNE was asked for and PCA is shown (too few codes, an error)
  uint64_t version = 0;      // bumps with every new map or layout shown
  int picked[2] = {-1, -1};  // the last two clicked points (interpolation endpoints)
  int next_pick = 0;
  int hovered = -1;
  bool follow = false;  // re-encode every 10 s while training

  void request();                       // encode the test set again with the current model
  void pick(int index);                 // a clicked point: inspector and the next endpoint
  const Image& hover_image(int index);  // the test image of a point
  void poll();                          // once a frame: following training
  void model_adopted();

  MapLayout layout() const { return layout_; }
  void set_layout(MapLayout l);
  // The map is on screen (its panel calls this every frame it draws it): the t-SNE layout is made
  // only once someone looks, not for every model opened.
  void shown();
  bool laying_out() const { return running_ != nullptr; }  // a t-SNE layout is being computed
  void cancel_layout();  // stops a t-SNE layout in progress (its result is dropped)

 private:
  friend class MapView;
  // The points' classes, attributes (and the colouring) and thumbnails, from the first n of `t`.
  void describe_points(const ImageSet* t, int64_t n);
  void codes_arrived(torch::Tensor codes, torch::Tensor pca_points, const void* images);
  void start_tsne();
  void show(const torch::Tensor& p);
  // tsne_points lays out the codes held now (not the last codes', waiting to be continued).
  bool tsne_current() const { return tsne_points.defined() && !continue_from_; }
  AppState& app_;
  MapLayout layout_ = MapLayout::Tsne;
  uint64_t codes_version_ = 0;  // bumps with every new set of codes
  std::shared_ptr<std::atomic<bool>> running_;  // the cancel flag of the t-SNE task in flight
  const void* images_ = nullptr;  // the test set the codes encode (identity only)
  bool continue_from_ = false;  // tsne_points is the last codes' layout: the next one starts there
  bool shown_ = false;
  std::vector<int64_t> class_labels_;  // N, the test set's classes (or empty)
  uint64_t requests_ = 0;
  double requested_at_ = -1e9;
  Image hover_;
  int hover_index_ = -1;
};

}  // namespace ali::explorer
