// Adam whose update runs as one pass over each parameter on the CPU.
//
// LibTorch 1.13's Adam::step runs eight tensor operations per parameter (two moment updates, a
// square root, a division, an addition, the parameter update) with two temporaries: eight passes
// over each of E's, G's and D's weights per step (bench_core --profile: add_, mul, sqrt, div,
// addcmul_, addcdiv_, about 4 % of a fmnist28 or svhn32 step). FusedAdam keeps Adam's options,
// state (exp_avg, exp_avg_sq, step per parameter) and serialisation, so checkpoints are
// interchangeable with torch::optim::Adam's, and replaces only step(): for dense float32 CPU
// parameters, one vectorised loop each (moments and gradients taken into the parameter's layout);
// for anything else (CUDA, other dtypes, amsgrad, weight decay), Adam's own step.
#pragma once
#include <torch/torch.h>

namespace ali {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace ali
