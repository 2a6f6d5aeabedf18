// What the objective files share inside core: their factories and the K-way base class.
#pragma once
#include "ali/objective.h"

namespace ali::objectives {

std::unique_ptr<Objective> make_ali(const ModelConfig& c, const TrainOptions& o);
std::unique_ptr<Objective> make_gali4(const ModelConfig& c, const TrainOptions& o);
std::unique_ptr<Objective> make_gali8(const ModelConfig& c, const TrainOptions& o);
std::unique_ptr<Objective> make_gali_pretrain(const ModelConfig& c, const TrainOptions& o,
                                              const torch::Device& device);
std::unique_ptr<Objective> make_gali_mix(const ModelConfig& c, const TrainOptions& o);
std::unique_ptr<Objective> make_semi(const ModelConfig& c, const TrainOptions& o);

// A GALI objective: K tuples from the batch, one K-way D call, kway_losses, set_gradients; the
// metrics are D's mean probability of each tuple's true class ("p_class0", ...).
class KWayObjective : public Objective {
 public:
  KWayObjective(std::string name, int k, const TrainOptions& o);
  std::string name() const override { return name_; }
  std::vector<std::string> metric_names() const override;
  ObjectiveOutput compute_gradients(AliModel& m, const Batch& batch,
                                    const StepContext& ctx) override;

 protected:
  virtual std::vector<JointTuple> tuples(AliModel& m, const Batch& batch) = 0;

 private:
  std::string name_;
  int k_;
  KWayWeights weights_;
};

// A GALI objective whose tuples are a table over the model's cycle samples (gali4, gali8).
std::unique_ptr<Objective> make_cycle_objective(
    std::string name, int k, std::vector<JointTuple> (*table)(const CycleSources&),
    const TrainOptions& o);

// z_hat from an encoder output: mu for BiGAN, else a sample.
torch::Tensor encode_sample(AliModel& m, const torch::Tensor& x, const torch::Tensor& y);

}  // namespace ali::objectives
