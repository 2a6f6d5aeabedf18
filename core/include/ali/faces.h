// A synthetic face dataset in exactly the CelebA layout (178 x 218 JPEGs in img_align_celeba/,
// list_attr_celeba.txt with the 40 CelebA names, list_eval_partition.txt), drawn by a small CPU
// rasteriser whose features follow the attributes, so conditional ALI can be exercised end to end
// where CelebA itself cannot be downloaded. Deterministic by seed on every platform.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ali {

enum class HairColour { Black, Blond, Brown, Gray, Other };

// The attributes the renderer draws; every other CelebA attribute is written as -1.
struct FaceAttributes {
  bool male = false;
  bool smiling = false;
  bool mouth_slightly_open = false;
  bool eyeglasses = false;
  bool wearing_hat = false;
  bool bald = false;
  bool bangs = false;
  bool wavy_hair = false;
  bool pale_skin = false;
  bool mustache = false;  // men only
  bool goatee = false;    // men only
  HairColour hair = HairColour::Black;
};

// Draws a face's attributes at the rates the dataset uses (each drawn attribute on in ~20-50 %).
FaceAttributes draw_face_attributes(uint64_t seed);
// The row of list_attr_celeba.txt: 40 values in celeba_attribute_names() order, -1 or 1.
// No_Beard is 1 exactly when there is neither a mustache nor a goatee.
std::vector<int> celeba_row(const FaceAttributes& a);

// Renders one face: uint8 218 x 178 x 3 (H x W x C). `seed` picks pose, size, colours and shapes.
torch::Tensor render_face(const FaceAttributes& a, uint64_t seed);

struct FaceDatasetOptions {
  int count = 1000;
  uint64_t seed = 1;
  int quality = 92;  // JPEG quality
  int threads = 0;   // 0: one per hardware thread
  // Partitions as consecutive runs, like CelebA's: the first 80 % train, 10 % valid, the rest test.
  double train_fraction = 0.8;
  double valid_fraction = 0.1;
};

struct FaceDatasetSummary {
  int count = 0;
  int train = 0, valid = 0, test = 0;
  std::vector<double> rates;  // fraction of faces with each of the 40 attributes on
};

// Writes the dataset into `out`, created if needed; a file or a folder that is not empty is refused
// (an error), so that no dataset is overwritten.
FaceDatasetSummary make_face_dataset(const std::filesystem::path& out, const FaceDatasetOptions& o);

}  // namespace ali
