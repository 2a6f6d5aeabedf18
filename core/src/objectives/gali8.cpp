// GALI-8: an 8-way D over two (x, z) pairs at once, each class a permutation of the same cycle
// samples (the specification's table); D's x- and z-branches are shared by both slots.
#include "objectives_internal.h"

namespace ali {

std::vector<JointTuple> gali8_tuples(const CycleSources& s) {
  // Class: (x1, z1, x2, z2). The data half (x, z_hat, x_r, z_hat_r), then the prior half.
  return {{s.x, s.z_hat, s.x_r, s.z_hat_r}, {s.x, s.z_hat_r, s.x_r, s.z_hat},
          {s.x_r, s.z_hat, s.x, s.z_hat_r}, {s.x_r, s.z_hat_r, s.x, s.z_hat},
          {s.x_f, s.z, s.x_rf, s.z_t},      {s.x_f, s.z_t, s.x_rf, s.z},
          {s.x_rf, s.z, s.x_f, s.z_t},      {s.x_rf, s.z_t, s.x_f, s.z}};
}

std::unique_ptr<Objective> objectives::make_gali8(const ModelConfig&, const TrainOptions& o) {
  return make_cycle_objective("gali8", 8, gali8_tuples, o);
}

}  // namespace ali
