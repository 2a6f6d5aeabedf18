// The `ali` subcommands. Each registers its options on the CLI11 app and runs over ali_core.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <limits>
#include <string>

namespace ali::cli {

// Thrown by a command to end the program with this exit status after it has said why.
struct ExitStatus {
  int code;
};

// A finite number (NaN and Inf refused: CLI11's ranges let NaN through) above `min`, or at least it
// when `inclusive`; the message says so in words, not in 309-digit bounds.
inline CLI::Validator finite_number(double min, bool inclusive) {
  const std::string what = std::string("a finite number ") + (inclusive ? ">= " : "> ") +
                           (min == 0 ? "0" : std::to_string(min));
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return "'" + text + "' is not " + what;
        } catch (const std::exception&) {
          return "'" + text + "' is not " + what;
        }
        if (!std::isfinite(v) || (inclusive ? v < min : v <= min))
          return "'" + text + "' is not " + what;
        return {};
      },
      what);
}

// A whole number from `min` to `max` (digits only: "1.5", "-1" or "9e9" refused), said in words.
inline CLI::Validator whole_number(long long min, long long max = std::numeric_limits<long long>::max()) {
  const std::string what = "a whole number " + (max == std::numeric_limits<long long>::max()
                                                    ? ">= " + std::to_string(min)
                                                    : "from " + std::to_string(min) + " to " + std::to_string(max));
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 19 &&
                            text.find_first_not_of("0123456789", text[0] == '-' ? 1 : 0) == std::string::npos &&
                            text != "-";
        if (!digits) return "'" + text + "' is not " + what;
        const long long v = std::stoll(text);
        if (v < min || v > max) return "'" + text + "' is not " + what;
        return {};
      },
      what);
}

// A seed: a whole number from 0 to 2^64 - 1 (CLI11 would wrap "-1" and saturate "1e30").
inline CLI::Validator seed_number() {
  const std::string what = "a whole number from 0 to 18446744073709551615";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        bool ok = !text.empty() && text.size() <= 20 && text.find_first_not_of("0123456789") == std::string::npos;
        if (ok) {
          try {
            (void)std::stoull(text);
          } catch (const std::exception&) {
            ok = false;
          }
        }
        return ok ? std::string() : "'" + text + "' is not " + what;
      },
      what);
}

void add_train_command(CLI::App& app);
// The command line as main received it (`train --nproc` starts copies of the program with it).
void set_program_arguments(int argc, char** argv);
void add_model_commands(CLI::App& app);  // sample, reconstruct, encode, interpolate, info
void add_faces_command(CLI::App& app);   // make-faces
void add_eval_command(CLI::App& app);

}  // namespace ali::cli
