#include "options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "ali/checkpoint.h"
#include "ali/image_io.h"
#include "ali/inpaint.h"
#include "ali/objective.h"

namespace fs = std::filesystem;

namespace ali::explorer {

fs::path default_config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "ali-explorer";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".config" / "ali-explorer";
  return fs::current_path() / ".ali-explorer";
}

namespace {
// Where shipped assets may be: beside a build tree's binary, an installed one, or the current folder.
std::vector<fs::path> asset_dirs(const fs::path& executable_dir) {
  return {executable_dir / ".." / ".." / "assets", executable_dir / ".." / "assets",
          fs::current_path() / "assets"};
}
}  // namespace

std::vector<fs::path> find_shipped_models(const fs::path& executable_dir) {
  for (const fs::path& dir : asset_dirs(executable_dir)) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && has_checkpoint_extension(e.path()))
        found.push_back(fs::weakly_canonical(e.path(), ec));
    std::sort(found.begin(), found.end());
    if (!found.empty()) return found;
  }
  return {};
}

fs::path find_shipped_sample(const fs::path& executable_dir, const std::string& dataset) {
  for (const fs::path& dir : asset_dirs(executable_dir)) {
    std::error_code ec;
    fs::path p = dir / (fs::path(dataset).filename().string() + "-sample");
    if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec);
  }
  return {};
}

fs::path find_default_model(const fs::path& executable_dir) {
  // The conditional face model first (the Attributes panel is the showcase), else Fashion-MNIST's.
  auto shipped = find_shipped_models(executable_dir);
  for (const char* name : {"faces64-conditional.ali", "fmnist28.ali"})
    for (const auto& p : shipped)
      if (p.filename() == name) return p;
  return {};
}

int parse_options(int argc, char** argv, Options& o) {
  CLI::App app{
      "ali-explorer: the desktop latent-space explorer for ALI models (train, encode, interpolate, "
      "inspect, map).\nWithout a display use the command line `ali` instead."};
  std::string config_dir;
  app.add_option("--model", o.model, "checkpoint (.ali) to open");
  app.add_option("--data", o.data,
                 "training data: fashion-mnist, an IDX folder or an image folder");
  app.add_option("--precision", o.precision,
                 "arithmetic of training runs: fp32, bf16 (autocast) or auto (bf16 where native)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}))
      ->capture_default_str();
  app.add_option("--objective", o.objective, "objective of new models (the Model panel's New model); without --model, start with a "
                 "new fmnist28 model of this objective")
      ->check(CLI::IsMember(objective_names()))
      ->capture_default_str();
  app.add_option("--labels", o.labels, "objective semi: labelled training images")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40))
      ->capture_default_str();
  const auto valid_rect = [](const std::string& v) {
    try {
      parse_rect(v);
      return std::string();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  auto* inpaint = app.add_option("--inpaint", o.inpaint,
                                 "X,Y,W,H: fill this hole (model pixels) in every dropped image, as a "
                                 "rectangle dragged on it does")
                      ->check(valid_rect);
  app.add_option("--inpaint-refine", o.inpaint_refine,
                 "then refine each fill's code this many steps on the pixels around the hole, as "
                 "the card's \"refine the fill\" does")
      ->check(CLI::Range(0, 100000))
      ->needs(inpaint);
  app.add_option("--crop", o.crop,
                 "X,Y,W,H: frame every dropped image from this region (its pixels as kept), as a "
                 "rectangle dragged on the picture does")
      ->check(valid_rect);
  app.add_option("--refine", o.refine,
                 "refine every dropped image's code this many steps of gradient descent from E(x), as "
                 "its Refine button does")
      ->check(CLI::Range(0, 100000));
  app.add_flag("--raw", o.raw,
               "dropped images as they are (shorter side to the model's size, centre crop) instead of "
               "conformed to the model's framing");
  app.add_option("--browse", o.browse,
                 "open the in-window Add images browser in this folder once a model is loaded (scripts, "
                 "screenshots)");
  app.add_option("--watch", o.watch,
                 "follow a run folder that `ali train --out` writes (here, distributed, or mounted from "
                 "a server): its log's curves and each new checkpoint, read-only (File > Watch run)");
  app.add_option("--device", o.device, "device for training runs: auto, cpu or cuda")
      ->capture_default_str();
  app.add_option(
      "--config-dir", config_dir,
      "settings, window layout and latent shelf (default $XDG_CONFIG_HOME/ali-explorer)");
  app.add_option("--width", o.width, "window width")->check(CLI::Range(320, 16384));
  app.add_option("--height", o.height, "window height")->check(CLI::Range(240, 16384));
  app.add_flag("--train", o.train, "start training right after loading");
  app.add_option("--drop", o.drops, "a file handled as if dropped on the window (repeatable)");
  app.add_option("--frames", o.frames, "scripted mode: run this many frames, then exit")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--min-steps", o.min_steps,
                 "scripted mode: also wait until training has done this many steps (with --watch: until "
                 "the run's checkpoint of at least this step has loaded)");
  app.add_option("--timeout", o.timeout_s, "scripted mode: give up waiting after this many seconds")
      ->capture_default_str();
  // Output names are checked before the window opens, not when the file is written at exit.
  const CLI::Validator png_out(
      [](std::string& path) -> std::string {
        try {
          check_image_output(path, ImageFiles::Png);
        } catch (const std::exception& e) {
          return e.what();
        }
        return {};
      },
      "PNG");
  app.add_option("--screenshot", o.screenshot,
                 "scripted mode: save the window as this PNG at exit")
      ->check(png_out);
  app.add_option("--tab", o.tab, "Explore tab to show first")
      ->check(CLI::IsMember({"interpolate", "inspect", "map"}));
  app.add_flag("--print-frame-stats", o.print_frame_stats, "print p50/p95/max frame times at exit");
  app.add_option(
      "--attrs", o.attrs,
      "conditional models: switch exactly these attributes on once the model loads, e.g. "
      "\"Sneaker\" or \"Blond_Hair,Smiling\" (unknown names: an error, listing the valid ones)");
  app.add_option(
      "--sweep", o.sweep,
      "conditional models: render an attribute sweep once the model loads (Attributes panel, "
      "Sweep tab): rows separated by ';', attributes in a row by ',', as `ali sweep --rows`");
  auto* sweep_out =
      app.add_option("--sweep-out", o.sweep_out,
                     "write the --sweep grid as this PNG once rendered (before --screenshot "
                     "and exit)")
          ->check(png_out);
  sweep_out->needs("--sweep");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  o.has_attrs = app.count("--attrs") > 0;
  o.has_objective = app.count("--objective") > 0;
  o.config_dir = config_dir.empty() ? default_config_dir() : fs::path(config_dir);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  o.executable_dir = ec ? fs::current_path() : exe.parent_path();
  if ((o.min_steps > 0 || !o.screenshot.empty()) && o.frames == 0) o.frames = 1;
  return -1;
}

}  // namespace ali::explorer
