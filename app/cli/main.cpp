// `ali`: the headless command line over ali_core (training on servers, sampling, encoding, ...).
#include <algorithm>
#include <iostream>

#include "ali/device.h"
#include "ali/error.h"
#include "ali/gradient_sync.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ali: Adversarially Learned Inference from the command line"};
  app.require_subcommand(1);
  // Option errors read as every other error does ("ali: error: ..."), for people and for scripts.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "ali: error: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  app.set_version_flag("--version", std::string("ali 0.1.0") +
                                        (ali::distributed_supported() ? " (distributed: c10d/Gloo)"
                                                                      : " (no distributed support)"));
  ali::cli::set_program_arguments(argc, argv);
  ali::cli::add_train_command(app);
  ali::cli::add_model_commands(app);
  ali::cli::add_faces_command(app);
  ali::cli::add_eval_command(app);
  const auto subs = app.get_subcommands([](const CLI::App*) { return true; });
  const bool known = argc > 1 && std::any_of(subs.begin(), subs.end(), [&](const CLI::App* sub) {
                       return sub->get_name() == argv[1];
                     });
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::string names;
    for (const auto* sub : subs) names += (names.empty() ? "" : ", ") + sub->get_name();
    std::cerr << "ali: error: unknown command '" << argv[1] << "' (commands: " << names << ")\n";
    return 109;  // CLI11's exit status for an unknown subcommand or extra argument
  }
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
