// `ali`: the headless command line over ali_core (training on servers, sampling, encoding, ...).
#include <iostream>

#include "ali/device.h"
#include "ali/error.h"
#include "ali/gradient_sync.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ali: Adversarially Learned Inference from the command line"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ali 0.1.0") +
                                        (ali::distributed_supported() ? " (distributed: c10d/Gloo)"
                                                                      : " (no distributed support)"));
  ali::cli::set_program_arguments(argc, argv);
  ali::cli::add_train_command(app);
  ali::cli::add_model_commands(app);
  ali::cli::add_faces_command(app);
  ali::cli::add_eval_command(app);
  try {
    ali::configure_threads(0);
    app.parse(argc, argv);
  } catch (const ali::cli::ExitStatus& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "ali: error: " << ali::describe_exception(e) << "\n";
    return 1;
  }
  return 0;
}
