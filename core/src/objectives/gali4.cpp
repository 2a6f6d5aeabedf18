// GALI-4 (Dandi et al. 2021): a 4-way D over (x, E(x)), (x, E(G(E(x)))), (G(z), z), (G(E(G(z))),
// z); matching all four gives the encoder and decoder cycle feedback without a pixel loss.
#include "objectives_internal.h"

namespace ali::objectives {
namespace {

class Gali4 : public KWayObjective {
 public:
  explicit Gali4(const TrainOptions& o) : KWayObjective("gali4", 4, o) {}

 protected:
  std::vector<JointTuple> tuples(AliModel& m, const Batch& b) override {
    return gali4_tuples(cycle_sources(m, b.x, b.y));
  }
};

}  // namespace

std::unique_ptr<Objective> make_gali4(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<Gali4>(o);
}

}  // namespace ali::objectives
