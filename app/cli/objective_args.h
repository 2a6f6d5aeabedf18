// `ali train`'s objective options (--objective, --weighting, --schedule, --spectral-norm,
// --instance-noise, --labels, --feature-net) and how they shape a new model.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "ali/objective.h"

namespace ali::cli {

// The flags fill the core's ObjectiveChoice (apply_objective_choice, check_resume_objective).
using ObjectiveArgs = ObjectiveChoice;

void add_objective_options(CLI::App* cmd, ObjectiveArgs& a);

}  // namespace ali::cli
