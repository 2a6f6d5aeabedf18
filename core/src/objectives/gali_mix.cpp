// GALI-mix: patch-level feedback. The encoder sees images with a random rectangle filled by a
// constant outside the data range, and D tells apart 8 tuples built from x, its reconstruction and
// their patch mix (x outside the rectangle, the reconstruction inside), which trains the model to
// inpaint.
#include "ali/inpaint.h"
#include "objectives_internal.h"

namespace ali::objectives {
namespace {

class GaliMix : public KWayObjective {
 public:
  explicit GaliMix(const TrainOptions& o) : KWayObjective("gali-mix", 8, o) {}

 protected:
  std::vector<JointTuple> tuples(AliModel& m, const Batch& b) override {
    const auto& x = b.x;
    const auto& y = b.y;
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    auto mask = [&] { return rectangle_mask(random_rectangles(n, h), h, w, x.options()); };
    auto masked_code = [&](const torch::Tensor& img) {
      return encode_sample(m, fill_holes(img, mask()), y);
    };
    auto m1 = mask();
    auto z_hat = encode_sample(m, fill_holes(x, m1), y);
    auto x_r = m.decoder->forward(z_hat, y);
    auto mix = x * (1 - m1) + x_r * m1;
    auto z_hat_r = masked_code(x_r);
    auto z_hat_mix = masked_code(mix);
    auto z = torch::randn({n, m.config.nlat}, x.options());
    auto x_f = m.decoder->forward(z, y);
    auto x_tf = m.decoder->forward(masked_code(x_f), y);
    return {{x, z_hat}, {x, z_hat_r}, {x_r, z_hat_mix}, {mix, z_hat},
            {x_f, z},   {x_tf, z},    {mix, z_hat_r},   {x, z_hat_mix}};
  }
};

}  // namespace

std::unique_ptr<Objective> make_gali_mix(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<GaliMix>(o);
}

}  // namespace ali::objectives
