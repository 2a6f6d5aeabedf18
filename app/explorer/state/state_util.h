// Small helpers shared by the explorer's state parts.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "ali/inference_worker.h"
#include "ali/models.h"

namespace ali::explorer {

torch::Tensor code_tensor(const std::vector<float>& v);    // 1 x n
std::vector<float> code_vector(const torch::Tensor& row);  // any shape -> flat floats
// The attribute row a request was made with, repeated to n rows; zeros when the job's model takes
// other attributes (a request made just before another model was adopted); undefined for
// unconditional models.
torch::Tensor attribute_rows(const ModelConfig& c, const torch::Tensor& y1, int64_t n);
// PixelBuffer -> float C x H x W in [0, 1] (the inverse of to_pixels).
torch::Tensor from_pixels(const PixelBuffer& b);
std::string timestamp();  // local time, 20261121-213000
// Writes a float C x H x W image as PNG, scaled up by `scale`, creating the folder; returns the
// absolute path.
std::string write_png(const std::filesystem::path& p, const torch::Tensor& chw, int scale);

}  // namespace ali::explorer
