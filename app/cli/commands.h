// The `ali` subcommands. Each registers its options on the CLI11 app and runs over ali_core.
#pragma once
#include <CLI/CLI.hpp>

namespace ali::cli {

// Thrown by a command to end the program with this exit status after it has said why.
struct ExitStatus {
  int code;
};

void add_train_command(CLI::App& app);
void add_model_commands(CLI::App& app);  // sample, reconstruct, encode, interpolate, info
void add_faces_command(CLI::App& app);   // make-faces
void add_eval_command(CLI::App& app);

}  // namespace ali::cli
