#include "state_util.h"

#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "ali/image_io.h"

namespace fs = std::filesystem;

namespace ali::explorer {

torch::Tensor code_tensor(const std::vector<float>& v) {
  return torch::tensor(v, torch::kFloat).view({1, int64_t(v.size())});
}

std::vector<float> code_vector(const torch::Tensor& row) {
  auto r = row.to(torch::kCPU, torch::kFloat).contiguous().view(-1);
  return std::vector<float>(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
}

torch::Tensor attribute_rows(const ModelConfig& c, const torch::Tensor& y1, int64_t n) {
  if (!c.conditional()) return {};
  if (!y1.defined() || y1.size(1) != int64_t(c.attributes.size()))
    return torch::zeros({n, int64_t(c.attributes.size())});
  return y1.repeat({n, 1});
}

torch::Tensor from_pixels(const PixelBuffer& b) {
  return torch::from_blob(const_cast<uint8_t*>(b.pixels.data()), {b.height, b.width, b.channels},
                          torch::kUInt8)
      .permute({2, 0, 1})
      .to(torch::kFloat)
      .div(255.0);
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream o;
  o << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return o.str();
}

std::string write_png(const fs::path& p, const torch::Tensor& chw, int scale) {
  auto abs = fs::absolute(p);
  if (abs.has_parent_path()) fs::create_directories(abs.parent_path());
  save_png(abs, scale > 1 ? upscale(chw, scale) : chw);
  return abs.string();
}

}  // namespace ali::explorer
