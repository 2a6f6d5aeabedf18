// `ali train`'s objective options (--objective, --weighting, --schedule, --spectral-norm,
// --instance-noise, --labels, --feature-net) and how they shape a new model.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "ali/checkpoint.h"
#include "ali/data.h"

namespace ali::cli {

struct ObjectiveArgs {
  std::string objective;  // empty: "ali" for a new run, the checkpoint's on --resume
  std::string weighting = "uniform";
  std::string schedule = "simultaneous";
  std::string spectral_norm = "auto";
  double instance_noise = -1;  // < 0: 0.1 for GALI objectives (annealed over the run), else 0
  int64_t labels = 0;
  std::string feature_net;
};

void add_objective_options(CLI::App* cmd, ObjectiveArgs& a);
// A new model's config and options for the chosen objective: `data` is the training set (classes
// for semi), `data_spec` names it (for gali-pretrain's default M, the cached evaluation
// classifier), `planned_steps` the run's length (the instance noise anneals over it). Throws
// ali::Error on bad input.
ModelConfig apply_objective_args(ModelConfig c, TrainOptions& o, const ObjectiveArgs& a,
                                 const ImageSet& data, const std::string& data_spec,
                                 int64_t planned_steps, const torch::Device& device);
// --resume: the objective options cannot change a run's game.
void check_resume_objective(const ObjectiveArgs& a, const ModelConfig& c);

}  // namespace ali::cli
