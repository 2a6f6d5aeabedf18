// GALI-4 (Dandi et al. 2021): a 4-way D over (x, E(x)), (x, E(G(E(x)))), (G(z), z), (G(E(G(z))),
// z); matching all four gives the encoder and decoder cycle feedback without a pixel loss.
#include "objectives_internal.h"

namespace ali {

std::vector<JointTuple> gali4_tuples(const CycleSources& s) {
  return {{s.x, s.z_hat}, {s.x, s.z_hat_r}, {s.x_f, s.z}, {s.x_rf, s.z}};
}

std::unique_ptr<Objective> objectives::make_gali4(const ModelConfig&, const TrainOptions& o) {
  return make_cycle_objective("gali4", 4, gali4_tuples, o);
}

}  // namespace ali
