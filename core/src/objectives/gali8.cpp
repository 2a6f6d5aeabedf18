// GALI-8: an 8-way D over two (x, z) pairs at once, each class a permutation of the same cycle
// samples (the specification's table); D's x- and z-branches are shared by both slots.
#include "objectives_internal.h"

namespace ali::objectives {
namespace {

class Gali8 : public KWayObjective {
 public:
  explicit Gali8(const TrainOptions& o) : KWayObjective("gali8", 8, o) {}

 protected:
  std::vector<JointTuple> tuples(AliModel& m, const Batch& b) override {
    return gali8_tuples(cycle_sources(m, b.x, b.y));
  }
};

}  // namespace

std::unique_ptr<Objective> make_gali8(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<Gali8>(o);
}

}  // namespace ali::objectives
