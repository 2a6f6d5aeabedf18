// Command-line options of ali-explorer (interactive and scripted mode).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ali::explorer {

struct Options {
  std::string model;                 // checkpoint to open ("" = default asset or a fresh model)
  std::string data;                  // training data ("" = the model's dataset or fashion-mnist)
  std::string device = "auto";       // for training runs
  std::string precision = "auto";    // for training runs: fp32, bf16 or auto
  std::string objective = "ali";     // for new models: an objective_names() entry
  bool has_objective = false;        // --objective given: start with a new model, not the asset
  int64_t labels = 1000;             // objective semi: labelled training images
  std::string inpaint;               // "X,Y,W,H": a hole filled in every dropped image
  int inpaint_refine = 0;            // > 0: each fill's code refined this many steps (its checkbox)
  std::string crop;                  // "X,Y,W,H": the crop every dropped image is framed from
  int refine = 0;                    // > 0: refine every dropped image's code this many steps
  bool raw = false;                  // dropped images as they are (no conforming)
  std::string browse;                // open the in-window Add images browser in this folder
  std::string watch;                 // a run folder to follow live (File > Watch run)
  std::filesystem::path config_dir;  // settings, layout, shelf
  int width = 0, height = 0;         // 0: from the settings, else 1600 x 960
  bool train = false;                // start training right after loading
  std::vector<std::string> drops;    // files handled as if dropped on the window
  int frames = 0;                    // > 0: scripted mode, run this many frames then exit
  int64_t min_steps = 0;             // scripted: keep going until training has done this many steps
                                     // (--watch: until a checkpoint of at least this step is loaded)
  double timeout_s = 180;            // scripted: give up waiting after this long
  std::string screenshot;            // scripted: save the window's pixels here at the end
  bool print_frame_stats = false;    // print p50/p95 frame times at exit
  std::string tab;                   // Explore tab shown first: interpolate, inspect or map
  bool has_attrs = false;            // --attrs given (possibly "": all off)
  std::string attrs;                 // conditional models: attributes on at startup, "A,B"
  std::string sweep;      // conditional models: attribute sweep rendered at startup ("A;B,C")
  std::string sweep_out;  // write that sweep as this PNG once rendered
  std::filesystem::path executable_dir;

  bool scripted() const { return frames > 0; }
};

// Parses argv; returns an exit code >= 0 when the program should end now (help, bad options).
int parse_options(int argc, char** argv, Options& o);

// $XDG_CONFIG_HOME/ali-explorer or ~/.config/ali-explorer.
std::filesystem::path default_config_dir();
// The shipped models (*.ali in ../../assets from the executable, ../assets, or ./assets), sorted.
std::vector<std::filesystem::path> find_shipped_models(const std::filesystem::path& executable_dir);
// A small sample of a dataset that ships beside the models (assets/celeba-sample for "celeba"), or
// empty: the test images the face model shows where CelebA itself is not installed.
std::filesystem::path find_shipped_sample(const std::filesystem::path& executable_dir,
                                          const std::string& dataset);
// The shipped default: the conditional face model (assets/faces64-conditional.ali), else
// assets/fmnist28.ali, if any.
std::filesystem::path find_default_model(const std::filesystem::path& executable_dir);

}  // namespace ali::explorer
