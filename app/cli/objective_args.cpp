#include "objective_args.h"

#include "ali/objective.h"
#include "commands.h"

namespace ali::cli {

void add_objective_options(CLI::App* cmd, ObjectiveArgs& a) {
  std::string names;
  for (const auto& o : objective_catalog()) names += "\n  " + o.name + ": " + o.description;
  cmd->add_option("--objective", a.objective, "training objective (default ali):" + names);
  cmd->add_option("--weighting", a.weighting,
                  "GALI loss weights: uniform, or released (the published scripts')")
      ->capture_default_str();
  cmd->add_option(
         "--schedule", a.schedule,
         "simultaneous (one forward pass updates D and E/G) or alternate (5 D steps, 1 E/G step)")
      ->capture_default_str();
  cmd->add_option("--spectral-norm", a.spectral_norm,
                  "spectral normalisation of D: auto (on for GALI), on, off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_option("--instance-noise", a.instance_noise,
                  "std of Gaussian noise on D's images, annealed per epoch to 0 over the run "
                  "(default 0.1 for GALI objectives, else 0)")
      ->check(finite_number(0, true));
  cmd->add_option("--labels", a.labels,
                  "objective semi: labelled training images (class-balanced, seeded)");
  cmd->add_option(
      "--feature-net", a.feature_net,
      "objective gali-pretrain: frozen M, a TorchScript module or an evaluation classifier "
      "(default: the one `ali eval` caches for --data, trained when missing)");
}

}  // namespace ali::cli
