// `ali sample | reconstruct | encode | interpolate | info`: inference on a saved model.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include "ali/batch_statistics.h"
#include "ali/checkpoint.h"
#include "ali/conform.h"
#include "ali/data.h"
#include "ali/device.h"
#include "ali/error.h"
#include "ali/file_io.h"
#include "ali/image_io.h"
#include "ali/inpaint.h"
#include "ali/latent.h"
#include "ali/pca.h"
#include "ali/refine.h"
#include "ali/text.h"
#include "ali/tsne.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace ali::cli {
namespace {

struct ModelArgs {
  std::string model;
  std::string device = "cpu";
  std::string attrs;
  std::string out;
  bool raw = false;  // image files as they are (no conforming)
};

// `read_images`: the command takes image files, so --attrs read (each image's own attributes) applies.
void add_model_options(CLI::App* cmd, ModelArgs& a, bool read_images = false) {
  cmd->add_option("--model", a.model, "checkpoint (.ali)")->required();
  cmd->add_option("--device", a.device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--attrs", a.attrs,
                  read_images ? "conditional models: attributes to switch on, e.g. \"Sneaker\"; read: each "
                                "image's own, as the model's auxiliary classifier reads them"
                              : "conditional models: attributes to switch on, e.g. \"Sneaker\"");
}

struct Loaded {
  std::shared_ptr<AliModel> model;
  CheckpointHeader header;
  torch::Tensor y;  // 1 x K or undefined
  bool read = false;  // --attrs read: each image's own attributes (read_attributes)
};

Loaded open_model(const ModelArgs& a) {
  Loaded l;
  l.model = load_model(a.model, resolve_device(a.device), &l.header);
  if (a.attrs == "read") {
    if (!l.model->config.conditional()) throw Error("--attrs read: an unconditional model has no attributes");
    l.read = true;
  } else {
    auto names = split_list(a.attrs);
    if (names.empty() && !a.attrs.empty()) throw Error("--attrs '" + a.attrs + "' names no attribute");
    l.y = attribute_vector(l.model->config, names);
  }
  return l;
}

torch::Tensor rows_of(const torch::Tensor& y, int64_t n) { return y.defined() ? y.expand({n, -1}) : y; }

// The y rows for images x loaded from `files`: each image's reading with --attrs read (printed),
// else --attrs' row for all of them.
torch::Tensor attributes_for(const Loaded& l, const torch::Tensor& x, const std::vector<std::string>& files) {
  if (!l.read) return rows_of(l.y, x.size(0));
  auto y = read_attributes(*l.model, x);
  for (int64_t i = 0; i < y.size(0); ++i) {
    auto on = attributes_on(l.model->config, y[i]);
    std::cout << files[size_t(i)] << ": reads " << (on.empty() ? "none" : joined(on)) << "\n";
  }
  return y;
}

void refuse_read(const Loaded& l, const char* command) {
  if (l.read) throw Error(std::string("--attrs read reads image files; ") + command + " takes none");
}

void add_raw_option(CLI::App* cmd, ModelArgs& a) {
  cmd->add_flag("--raw", a.raw,
                "take image files as they are (shorter side to the model's size, centre crop) instead of "
                "conforming them to the model's framing (object on black, face crop)");
}

// One image file as the model sees it: conformed to its framing unless --raw; a picture with no clear
// object is framed as a centre crop, with a warning.
torch::Tensor load_input(const std::string& file, const ModelArgs& a, const ModelConfig& c) {
  ConformOptions o;
  o.raw = a.raw;
  Conformed r = conform_file(file, c, o);
  if (!r.warning.empty()) std::cerr << "warning: " << file << ": " << r.warning << "\n";
  return r.image;
}

torch::Tensor load_images(const std::vector<std::string>& files, const ModelArgs& a,
                          const ModelConfig& c) {
  std::vector<torch::Tensor> xs;
  for (const auto& f : files) xs.push_back(load_input(f, a, c));
  return torch::stack(xs);
}

struct RefineArgs {
  int steps = 0;
  std::string features = "auto";
};

void add_refine_options(CLI::App* cmd, RefineArgs& r) {
  cmd->add_option("--refine", r.steps,
                  "refine each code by this many steps of gradient descent on z from E(x) (0: the encoder's)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--features", r.features,
                  "refinement's feature term: auto (the classifier `ali eval` cached for the model's "
                  "dataset, when there is one), none, or a classifier file")
      ->capture_default_str();
}

// E's means for x, refined when asked.
torch::Tensor codes_for(AliModel& m, const torch::Tensor& x, const torch::Tensor& y, const RefineArgs& r) {
  auto mu = encode_mu(m, x, y);
  if (r.steps == 0) return mu;
  RefineOptions o;
  o.steps = r.steps;
  std::string note;
  auto features = evaluation_features(m.config, r.features, &note);
  if (!note.empty()) std::cerr << note << "\n";
  auto result = refine_codes(m, x, mu, y, o, features);
  std::cerr << "refined " << x.size(0) << " code" << (x.size(0) == 1 ? "" : "s") << " in " << r.steps
            << " steps: pixel MSE " << result.mse.front() << " -> " << result.mse.back() << " ("
            << std::fixed << std::setprecision(2) << result.seconds << " s)" << std::defaultfloat
            << std::setprecision(6) << "\n";
  return result.z;
}

// Images people look at: small presets are scaled up so a grid is not a postage stamp.
int display_scale(const ModelConfig& c) { return c.image_size < 48 ? 2 : 1; }

void run_sample(const ModelArgs& a, int count, uint64_t seed, int cols) {
  check_image_output(a.out, ImageFiles::Still);
  auto l = open_model(a);
  refuse_read(l, "sample");
  const ModelConfig& c = l.model->config;
  if (cols <= 0) cols = int(std::ceil(std::sqrt(count)));
  cols = std::min(cols, count);
  if (lower_extension(a.out) != ".png") {  // JPEG: at most 65,535 pixels a side, known before decoding
    const int64_t cell = int64_t(c.image_size + 2) * display_scale(c);
    const int64_t rows = (count + cols - 1) / cols;
    if (std::max(rows, int64_t(cols)) * cell > 65535)
      throw Error("cannot write " + a.out + ": a JPEG holds at most 65,535 pixels a side, and " +
                  std::to_string(rows) + " rows of " + std::to_string(cols) +
                  " would not fit (name it .png, or give --cols nearer the square root of --count)");
  }
  auto z = seeded_normal(count, c.nlat, seed);
  // A conditional model asked for no attributes draws the grid `ali train` and the explorer show:
  // one attribute set per row (each class in turn; consistent faces for CelebA attributes).
  torch::Tensor y = rows_of(l.y, count);
  if (c.conditional() && a.attrs.empty()) {
    y = sample_grid_attributes(c, count, cols);
    auto rows = sample_grid_row_names(c, (count + cols - 1) / cols);
    std::cout << "no --attrs: one attribute set per row:";
    for (size_t r = 0; r < rows.size(); ++r) std::cout << (r ? " | " : " ") << joined(rows[r]);
    std::cout << "\n";
  }
  auto x = decode(*l.model, z, y);
  // One sample is written bare: a white frame round a Fashion-MNIST garment would read as a light
  // background when the picture is dropped back in, and the garment would be conformed inverted.
  save_image(a.out, upscale(make_grid(x, cols, count == 1 ? 0 : 2), display_scale(c)));
  std::cout << "wrote " << count << " samples to " << a.out << "\n";
}

void run_reconstruct(const ModelArgs& a, const RefineArgs& refine, const std::vector<std::string>& files) {
  check_image_output(a.out, ImageFiles::Still);
  auto l = open_model(a);
  auto x = load_images(files, a, l.model->config);
  int64_t n = x.size(0);
  auto y = attributes_for(l, x, files);
  auto r = decode(*l.model, codes_for(*l.model, x, y, refine), y);
  // Top row: inputs; bottom row: their reconstructions.
  save_image(a.out, upscale(make_grid(torch::cat({x, r}), int(n)), display_scale(l.model->config)));
  std::cout << "wrote " << n << " reconstructions to " << a.out << "\n";
}

// One row per code: source, label (empty when unknown), then the 2-D layout's map_x, map_y when
// one was asked for, then mu_0 ... mu_{nlat-1}.
void write_codes(std::ostream& o, const torch::Tensor& mu, const std::vector<std::string>& source,
                 const torch::Tensor& labels, const torch::Tensor& points) {
  int64_t nlat = mu.size(1);
  o << "source,label";
  if (points.defined()) o << ",map_x,map_y";
  for (int64_t i = 0; i < nlat; ++i) o << ",mu_" << i;
  o << "\n" << std::setprecision(7);
  auto contiguous = mu.contiguous();
  auto m = contiguous.accessor<float, 2>();
  for (int64_t r = 0; r < mu.size(0); ++r) {
    o << source[size_t(r)] << ',';
    if (labels.defined()) o << labels[r].item<int64_t>();
    if (points.defined()) o << ',' << points[r][0].item<float>() << ',' << points[r][1].item<float>();
    for (int64_t i = 0; i < nlat; ++i) o << ',' << m[r][i];
    o << '\n';
  }
}

// The codes laid out in 2-D ("tsne" or "pca"), as the explorer's latent map does; with labels, says
// how often a code's 5 nearest neighbours mostly share its label, in the layout and in the codes.
torch::Tensor layout_codes(const std::string& layout, const torch::Tensor& mu, const torch::Tensor& labels) {
  if (layout.empty()) return {};
  if (mu.size(0) < 4) throw Error("--layout needs at least 4 codes, got " + std::to_string(mu.size(0)));
  torch::Tensor points = layout == "tsne" ? tsne(mu) : fit_pca(mu, 2).apply(mu);
  if (labels.defined())
    std::cout << std::fixed << std::setprecision(3) << layout
              << " layout: a code's 5 nearest neighbours mostly share its label for "
              << neighbour_agreement(points, labels) << " of the codes (in the codes themselves: "
              << neighbour_agreement(mu, labels) << ")\n"
              << std::defaultfloat;
  return points;
}

void run_encode(const ModelArgs& a, const RefineArgs& refine, const std::vector<std::string>& files,
                const std::string& data, const std::string& split, int64_t limit,
                const std::string& layout) {
  if (files.empty() && data.empty()) throw Error("give image files or --data");
  if (!files.empty() && !data.empty()) throw Error("give either image files or --data, not both");
  check_output_path(a.out, "codes");
  auto l = open_model(a);
  const ModelConfig& c = l.model->config;
  std::vector<std::string> source;
  torch::Tensor mu, labels;
  if (!data.empty()) {
    refuse_read(l, "encode --data (its own attributes are used)");
    auto set = load_dataset(data, split, c.image_size, c.image_channels);
    if (c.conditional()) set = with_condition_attributes(std::move(set));
    int64_t n = limit > 0 ? std::min(limit, set.size()) : set.size();
    mu = encode_images(*l.model, set, n, l.y);
    if (set.labels.defined()) labels = set.labels.narrow(0, 0, n);
    for (int64_t i = 0; i < n; ++i) source.push_back(split + ":" + std::to_string(i));
  } else {
    auto x = load_images(files, a, c);
    mu = codes_for(*l.model, x, attributes_for(l, x, files), refine);
    source = files;
  }
  torch::Tensor points = layout_codes(layout, mu, labels);
  std::ostringstream o;
  write_codes(o, mu, source, labels, points);
  write_file_atomically(a.out, o.str(), "codes");
  std::cout << "wrote " << mu.size(0) << " codes of size " << mu.size(1) << " to " << a.out << "\n";
}

torch::Tensor endpoint(const std::string& spec, const ModelArgs& a, AliModel& m, const torch::Tensor& y) {
  if (spec.rfind("seed:", 0) == 0) {
    // Digits only: "seed:1.5" or "seed:-1" is a typo, not seed 1 or 2^64 - 1.
    const std::string digits = spec.substr(5);
    uint64_t seed = 0;
    bool ok = !digits.empty() && digits.size() <= 20 &&
              std::all_of(digits.begin(), digits.end(), [](unsigned char ch) { return std::isdigit(ch); });
    if (ok) {
      try {
        seed = std::stoull(digits);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) throw Error("bad endpoint '" + spec + "': use seed:N (N a whole number, 0 to 2^64 - 1) or an image file");
    return seeded_normal(1, m.config.nlat, seed)[0];
  }
  auto x = load_input(spec, a, m.config).unsqueeze(0);
  return encode_mu(m, x, y)[0];
}

void run_interpolate(const ModelArgs& a, const std::string& from, const std::string& to, int steps,
                     bool slerp, int delay_cs) {
  check_image_output(a.out, ImageFiles::StillOrGif);
  auto l = open_model(a);
  if (l.read) throw Error("--attrs read: interpolate takes the attributes it is given (--attrs NAMES), not read ones");
  auto path = interpolation_path(endpoint(from, a, *l.model, l.y), endpoint(to, a, *l.model, l.y), steps,
                                 slerp);
  auto frames = decode(*l.model, path, rows_of(l.y, steps));
  int scale = display_scale(l.model->config);
  if (lower_extension(a.out) == ".gif") {
    std::vector<torch::Tensor> v;
    for (int64_t i = 0; i < steps; ++i) v.push_back(upscale(frames[i], scale * 2));
    for (int64_t i = steps - 2; i > 0; --i) v.push_back(upscale(frames[i], scale * 2));  // ping-pong
    save_gif(a.out, v, delay_cs);
  } else {
    save_image(a.out, upscale(make_grid(frames, steps), scale));
  }
  std::cout << "wrote a " << steps << "-step " << (slerp ? "spherical" : "linear")
            << " interpolation to " << a.out << "\n";
}

void run_inpaint(const ModelArgs& a, const std::string& mask, int refine_steps,
                 const std::vector<std::string>& files) {
  Rect hole = parse_rect(mask);
  check_image_output(a.out, ImageFiles::Still);
  auto l = open_model(a);
  auto x = load_images(files, a, l.model->config);
  int64_t n = x.size(0);
  InpaintOptions o;
  o.refine_steps = refine_steps;
  auto filled = inpaint(*l.model, x, hole, attributes_for(l, x, files), o);
  auto shown = x.clone();  // the hole as the encoder sees it, clamped to black for display
  shown.slice(2, hole.y, hole.y + hole.h).slice(3, hole.x, hole.x + hole.w).fill_(0.0f);
  // Rows: inputs, inputs with the hole, inpainted.
  save_image(a.out, upscale(make_grid(torch::cat({x, shown, filled}), int(n)),
                            display_scale(l.model->config)));
  std::cout << "wrote " << n << " inpainted image" << (n == 1 ? "" : "s") << " to " << a.out
            << "\n";
}

// Attribute editing of real images: each encoded with the attributes it reads as (--attrs read, the
// default) or --attrs, then decoded with each toggle in turn. Grid rows: the inputs, their
// reconstructions, then one row per toggled attribute (flipped from each image's own value, the
// row kept consistent by request_attribute; for a class model, that class instead of its own).
void run_edit(const ModelArgs& a, const RefineArgs& refine, const std::string& toggles_text,
              const std::vector<std::string>& files) {
  check_image_output(a.out, ImageFiles::Still);
  auto l = open_model(a);
  const ModelConfig& c = l.model->config;
  if (!c.conditional()) throw Error("edit: an unconditional model has no attributes to edit");
  if (a.attrs.empty()) l.read = true;  // the images' own attributes
  auto toggles = split_list(toggles_text);
  if (toggles.empty()) throw Error("edit: --toggle names no attribute");
  for (const auto& t : toggles) attribute_vector(c, {t});  // unknown names: the error lists the valid ones
  auto x = load_images(files, a, c);
  const int64_t n = x.size(0);
  auto y = attributes_for(l, x, files);
  auto z = codes_for(*l.model, x, y, refine);
  std::vector<torch::Tensor> rows{x, decode(*l.model, z, y)};
  const bool classes = c.attributes_are_classes();
  for (const auto& name : toggles) {
    const auto k = int64_t(std::find(c.attributes.begin(), c.attributes.end(), name) - c.attributes.begin());
    auto edited = y.clone();
    for (int64_t i = 0; i < n; ++i) {
      auto row = edited.narrow(0, i, 1);
      // A class model draws one class: its toggle switches to the class named.
      request_attribute(c, row, name, classes || y[i][k].item<float>() < 0.5f);
    }
    rows.push_back(decode(*l.model, z, edited));
  }
  save_image(a.out, upscale(make_grid(torch::cat(rows), int(n)), display_scale(c)));
  std::cout << "wrote " << n << " image" << (n == 1 ? "" : "s") << " with " << toggles.size()
            << " edit" << (toggles.size() == 1 ? "" : "s") << " to " << a.out
            << " (rows: inputs, reconstructions";
  for (const auto& t : toggles) std::cout << ", " << t << " toggled";
  std::cout << ")\n";
}

void run_sweep(const ModelArgs& a, const std::string& rows_text, int cols, uint64_t seed) {
  check_image_output(a.out, ImageFiles::Still);
  auto l = open_model(a);
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : split_list(rows_text, ';')) rows.push_back(split_list(row, ','));
  auto images = attribute_sweep(*l.model, rows, cols, seed);
  save_image(a.out, upscale(make_grid(images, cols), display_scale(l.model->config)));
  std::cout << "wrote a " << rows.size() << " x " << cols << " attribute sweep to " << a.out << "\n";
}

struct ExportArgs {
  std::vector<std::string> in;
  std::string out;
  std::string refit_data;  // empty: the statistics as saved
  int refit_batches = 100;
};

void run_export(const ExportArgs& a) {
  const auto& in = a.in;
  const auto& out = a.out;
  CheckpointHeader h;
  auto m = average_models(std::vector<fs::path>(in.begin(), in.end()), &h);
  if (!a.refit_data.empty()) {
    const ModelConfig& c = m->config;
    auto set = load_dataset(a.refit_data, "train", c.image_size, c.image_channels);
    if (!c.dataset.empty() && set.name != c.dataset)
      std::cerr << "warning: the model was trained on " << c.dataset << ", and its statistics are refit on "
                << set.name << " (resized to " << c.image_channels << "x" << c.image_size << "x" << c.image_size
                << "): they will fit that data, not its own\n";
    if (c.conditional()) set = with_condition_attributes(std::move(set));
    BatchNormRefit o;
    o.batches = a.refit_batches;
    refit_batch_norm(*m, set, o);
    const bool reads = m->config.reads_attributes();
    h.extra["batch_norm_refit"] = {{"data", a.refit_data}, {"batches", o.batches}, {"batch", o.batch},
                                   {"discriminator_images", reads}};
    std::cout << "re-estimated the encoder's and decoder's"
              << (reads ? " (and the discriminator's image branch's, which reads attributes)" : "")
              << " BatchNorm statistics on " << o.batches << " batches of " << o.batch << " ("
              << a.refit_data << " train images, prior codes)\n";
  }
  save_model(out, *m, h);
  std::cout << "wrote the networks of "
            << (in.size() == 1 ? in[0] + " (step " + std::to_string(h.step) + ")"
                               : "the mean of " + std::to_string(in.size()) + " models (the last at step " +
                                     std::to_string(h.step) + ")")
            << " to " << out << " (" << fs::file_size(out) / 1024 << " KiB, no optimiser state)\n";
}

void run_info(const std::string& path) {
  // The header alone: describing a file never builds (or allocates) the model it describes.
  CheckpointFile f = read_checkpoint_file(path);
  const CheckpointHeader& h = f.header;
  const ModelConfig& c = h.config;
  std::cout << "checkpoint:   " << path << " (format " << h.format_version << ")\n"
            << "architecture: " << c.arch << (c.bigan ? " (BiGAN: deterministic encoder)" : "")
            << " - " << c.spec().description << "\n"
            << "objective:    " << c.objective << " (D: " << c.disc_outputs << " output"
            << (c.disc_outputs == 1 ? "" : "s") << ", " << c.disc_slots << " (x, z) slot"
            << (c.disc_slots == 1 ? "" : "s")
            << (c.disc_features ? ", " + std::to_string(c.disc_features) + " M features" : "")
            << (c.spectral_norm ? ", spectral norm" : "") << ")\n"
            << "latent size:  " << c.nlat << "\n"
            << "image shape:  " << c.image_channels << "x" << c.image_size << "x" << c.image_size
            << "\n"
            << "weights:      " << std::fixed << std::setprecision(1)
            << double(f.payload.size()) / (1 << 20) << " MiB" << std::defaultfloat
            << std::setprecision(6) << "\n"
            << "step:         " << describe_steps(h) << "\n"
            << "dataset:      " << (c.dataset.empty() ? "-" : c.dataset) << "\n"
            << "framing:      " << c.framing_in_use().kind
            << (c.framing_in_use().kind == "object" && c.framing_in_use().fill < 1.0
                    ? " (longest edge " + std::to_string(int(std::lround(100 * c.framing_in_use().fill))) + " % of the frame)"
                    : std::string())
            << " (pictures are conformed to it; --raw skips that)\n"
            << "training:     batch " << h.options.batch << ", lr " << h.options.lr << ", betas ("
            << h.options.beta1 << ", " << h.options.beta2 << "), seed " << h.options.seed;
  if (h.options.rec_weight > 0) std::cout << ", rec-weight " << h.options.rec_weight;
  if (h.options.aux_weight > 0) std::cout << ", aux-weight " << h.options.aux_weight;
  if (h.options.prior_weight > 0) std::cout << ", prior-weight " << h.options.prior_weight;
  if (h.options.independence_weight > 0)
    std::cout << ", independence-weight " << h.options.independence_weight;
  if (h.options.contrastive_weight > 0)
    std::cout << ", contrastive-weight " << h.options.contrastive_weight;
  if (h.options.aux_edit_weight > 0) std::cout << ", aux-edit-weight " << h.options.aux_edit_weight;
  if (h.options.fit_encoder) std::cout << ", the encoder fitted alone";
  if (h.options.instance_noise > 0) std::cout << ", instance noise " << h.options.instance_noise;
  if (h.options.labels > 0) std::cout << ", " << h.options.labels << " labels";
  if (h.options.schedule != "simultaneous") std::cout << ", " << h.options.schedule << " updates";
  if (h.options.weighting != "uniform") std::cout << ", " << h.options.weighting << " weights";
  std::cout << "\n"
            << "precision:    " << precision_name(h.options.precision)
            << (h.options.precision == Precision::Auto
                    ? " (bf16 where native; on this machine's CPU: " +
                          precision_name(resolve_precision(Precision::Auto, torch::kCPU)) + ")"
                    : std::string())
            << "\n"
            << "attributes:   ";
  if (c.attributes.empty()) std::cout << "none (unconditional)";
  for (size_t i = 0; i < c.attributes.size(); ++i) std::cout << (i ? ", " : "") << c.attributes[i];
  if (c.conditional())
    std::cout << (c.attributes_are_classes() ? " (classes: one at a time)"
                                             : " (labels: any may be on together)");
  std::cout << "\n";
  if (!h.extra.empty()) std::cout << "extra:        " << h.extra.dump() << "\n";
}

}  // namespace

void add_model_commands(CLI::App& app) {
  {
    auto a = std::make_shared<ModelArgs>();
    auto count = std::make_shared<int>(64);
    auto seed = std::make_shared<uint64_t>(0);
    auto cols = std::make_shared<int>(0);
    auto* cmd = app.add_subcommand("sample", "decode random codes into a grid of images (a conditional model "
                                              "without --attrs: one attribute set per row)");
    add_model_options(cmd, *a);
    cmd->add_option("--count", *count, "number of samples")->capture_default_str()->check(CLI::Range(1, 4096));
    cmd->add_option("--seed", *seed, "seed of the codes (same seed, same picture)")
        ->capture_default_str()
        ->check(seed_number());
    cmd->add_option("--cols", *cols, "columns (default: square)")->check(CLI::Range(1, 4096));
    cmd->add_option("--out", a->out, "PNG or JPEG file (.png, .jpg)")->required();
    cmd->callback([=] { run_sample(*a, *count, *seed, *cols); });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto refine = std::make_shared<RefineArgs>();
    auto* cmd = app.add_subcommand("reconstruct", "images beside their reconstructions G(E(x))");
    add_model_options(cmd, *a, /*read_images=*/true);
    add_raw_option(cmd, *a);
    add_refine_options(cmd, *refine);
    cmd->add_option("--out", a->out, "PNG or JPEG file (.png, .jpg)")->required();
    cmd->add_option("images", *files, "image files")->required();
    cmd->callback([=] { run_reconstruct(*a, *refine, *files); });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto data = std::make_shared<std::string>();
    auto split = std::make_shared<std::string>("test");
    auto limit = std::make_shared<int64_t>(0);
    auto refine = std::make_shared<RefineArgs>();
    auto layout = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("encode", "write the encoder's mu for images or a dataset as CSV");
    add_model_options(cmd, *a, /*read_images=*/true);
    add_raw_option(cmd, *a);
    add_refine_options(cmd, *refine);
    cmd->add_option("--out", a->out, "CSV file")->required();
    cmd->add_option("--data", *data, "a dataset instead of files (fashion-mnist, a folder)");
    cmd->add_option("--split", *split, "train or test")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
    cmd->add_option("--limit", *limit, "encode at most this many dataset images (default: all)")
        ->check(whole_number(1));
    cmd->add_option("--layout", *layout,
                    "also lay the codes out in 2-D (columns map_x, map_y), as the explorer's latent map: "
                    "tsne (nearest neighbours kept together) or pca")
        ->check(CLI::IsMember({"tsne", "pca"}));
    cmd->add_option("images", *files, "image files");
    cmd->callback([=] {
      if (refine->steps > 0 && !data->empty()) throw Error("--refine applies to image files, not --data");
      run_encode(*a, *refine, *files, *data, *split, *limit, *layout);
    });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto from = std::make_shared<std::string>(), to = std::make_shared<std::string>();
    auto steps = std::make_shared<int>(8);
    auto slerp = std::make_shared<bool>(false);
    auto delay = std::make_shared<int>(10);
    auto* cmd = app.add_subcommand("interpolate", "a strip (PNG) or animation (GIF) between two codes");
    add_model_options(cmd, *a);
    add_raw_option(cmd, *a);
    cmd->add_option("--from", *from, "image file or seed:N")->required();
    cmd->add_option("--to", *to, "image file or seed:N")->required();
    cmd->add_option("--steps", *steps, "frames, endpoints included")->capture_default_str()->check(CLI::Range(2, 512));
    cmd->add_flag("--slerp", *slerp, "spherical instead of linear interpolation");
    cmd->add_option("--delay", *delay, "GIF frame delay in 1/100 s")->capture_default_str()->check(CLI::Range(1, 65535));
    cmd->add_option("--out", a->out, "strip.png, strip.jpg or sweep.gif")->required();
    cmd->callback([=] { run_interpolate(*a, *from, *to, *steps, *slerp, *delay); });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto mask = std::make_shared<std::string>();
    auto refine = std::make_shared<int>(0);
    auto* cmd = app.add_subcommand(
        "inpaint", "fill a rectangular hole: input outside it, G(mu(E(x with the hole filled))) inside "
                   "(the hole filled with the model's mean sample, then twice with its reconstruction; "
                   "a gali-mix model's as it trained)");
    add_model_options(cmd, *a, /*read_images=*/true);
    add_raw_option(cmd, *a);
    cmd->add_option("--mask", *mask, "the hole as X,Y,W,H in the model's pixels")->required();
    cmd->add_option("--refine", *refine,
                    "then refine each code by this many steps of gradient descent on z, fitting the "
                    "pixels outside the hole (0: none)")
        ->capture_default_str()
        ->check(CLI::Range(0, 100000));
    cmd->add_option("--out", a->out, "PNG or JPEG grid (.png, .jpg): inputs, holes, inpainted")->required();
    cmd->add_option("images", *files, "image files")->required();
    cmd->callback([=] { run_inpaint(*a, *mask, *refine, *files); });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto toggles = std::make_shared<std::string>();
    auto refine = std::make_shared<RefineArgs>();
    auto* cmd = app.add_subcommand(
        "edit", "conditional models: edit real images' attributes (rows: inputs, reconstructions, one "
                "row per toggled attribute)");
    add_model_options(cmd, *a, /*read_images=*/true);
    add_raw_option(cmd, *a);
    add_refine_options(cmd, *refine);
    cmd->add_option("--toggle", *toggles, "attributes to flip, one row each: \"Smiling,Eyeglasses\"")->required();
    cmd->add_option("--out", a->out, "PNG or JPEG file (.png, .jpg)")->required();
    cmd->add_option("images", *files, "image files")->required();
    cmd->callback([=] { run_edit(*a, *refine, *toggles, *files); });
  }
  {
    auto a = std::make_shared<ModelArgs>();
    auto rows = std::make_shared<std::string>();
    auto cols = std::make_shared<int>(8);
    auto seed = std::make_shared<uint64_t>(0);
    auto* cmd = app.add_subcommand("sweep", "conditional models: fixed codes across, attribute sets down");
    cmd->add_option("--model", a->model, "checkpoint (.ali)")->required();
    cmd->add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
    cmd->add_option("--rows", *rows, "attribute sets, ';' between rows, ',' within: \"Black_Hair;Blond_Hair,Bangs\"")
        ->required();
    cmd->add_option("--cols", *cols, "fixed codes (columns)")->capture_default_str()->check(CLI::Range(1, 64));
    cmd->add_option("--seed", *seed, "seed of the codes")->capture_default_str()->check(seed_number());
    cmd->add_option("--out", a->out, "PNG or JPEG file (.png, .jpg)")->required();
    cmd->callback([=] { run_sweep(*a, *rows, *cols, *seed); });
  }
  {
    auto a = std::make_shared<ExportArgs>();
    auto* cmd = app.add_subcommand("export", "write a model's networks alone (small, for shipping)");
    cmd->add_option("--model", a->in,
                    "checkpoint (.ali); several (one run's kept checkpoints): the mean of their weights, "
                    "BatchNorm statistics included (checkpoint averaging)")
        ->required();
    cmd->add_option("--out", a->out, "output .ali")->required();
    cmd->add_option("--refit-bn", a->refit_data,
                    "re-estimate the encoder's and decoder's BatchNorm statistics for inference on this "
                    "dataset's train split (fashion-mnist, an IDX or CelebA-layout folder): the encoder "
                    "on its images, the decoder on prior codes, and a discriminator with an auxiliary "
                    "classifier (what --attrs read uses) on the images");
    cmd->add_option("--refit-batches", a->refit_batches, "batches of 100 for --refit-bn")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->callback([=] { run_export(*a); });
  }
  {
    auto path = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("info", "describe a checkpoint");
    cmd->add_option("checkpoint", *path, "checkpoint (.ali)")->required();
    cmd->callback([=] { run_info(*path); });
  }
}

}  // namespace ali::cli
