// `ali train`: trains a model on a dataset, writing checkpoints, log.csv and sample grids.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ali/data.h"
#include "ali/device.h"
#include "ali/image_io.h"
#include "ali/text.h"
#include "ali/trainer.h"
#include "commands.h"
#include "objective_args.h"

namespace fs = std::filesystem;

namespace ali::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

struct TrainArgs {
  std::string data = "fashion-mnist";
  std::string arch = "fmnist28";
  bool bigan = false;
  bool conditional = false;
  int64_t steps = 0;
  int64_t epochs = 0;
  int batch = 100;
  double lr = 1e-4;
  double d_lr_scale = 1.0;
  double rec_weight = 0.0;
  std::string device = "auto";
  uint64_t seed = 0;
  std::string out;
  bool resume = false;
  int64_t checkpoint_every = 500;
  int64_t keep_every = 0;
  int nlat = 0;
  ObjectiveArgs objective;
  std::string precision;  // empty: auto for a new run, the checkpoint's on --resume
};

// Fixed codes (and, for conditional models, one class per row) so grids are comparable over time.
void write_samples(Trainer& t, const fs::path& file) {
  auto snap = t.model().clone_to(t.device());
  const ModelConfig& c = snap->config;
  const int cols = 8, count = 64;
  auto z = seeded_normal(count, c.nlat, t.options().seed + 1);
  save_png(file, make_grid(decode(*snap, z, sample_grid_attributes(c, count, cols)), cols));
}

void run_train(const TrainArgs& a) {
  if (a.steps > 0 && a.epochs > 0) throw Error("give --steps or --epochs, not both");
  fs::path out = a.out;
  fs::path ckpt = out / "checkpoint.ali";
  torch::Device device = resolve_device(a.device);

  std::unique_ptr<Trainer> trainer;
  if (a.resume) {
    if (!fs::exists(ckpt)) throw Error("--resume: no checkpoint at " + ckpt.string());
    trainer = Trainer::resume(ckpt, device);
    check_resume_objective(a.objective, trainer->model().config);
  } else {
    if (fs::exists(ckpt))
      throw Error(ckpt.string() + " already exists: use --resume to continue it, or another --out");
    ModelConfig c;
    c.arch = a.arch;
    c.bigan = a.bigan;
    c.nlat = a.nlat;
    c = c.resolved();
    auto probe = load_dataset(a.data, "train", c.image_size, c.image_channels);
    if (a.conditional)  // class-conditional: the dataset's class names become the attributes
      c.attributes = with_condition_attributes(probe).attribute_names;
    TrainOptions o;
    o.batch = a.batch;
    o.lr = a.lr;
    o.d_lr_scale = a.d_lr_scale;
    o.rec_weight = a.rec_weight;
    o.seed = a.seed;
    int64_t planned =
        a.steps > 0 ? a.steps
                    : (a.epochs > 0 ? a.epochs : 10) * std::max<int64_t>(1, probe.size() / a.batch);
    c = apply_objective_args(c, o, a.objective, probe, a.data, planned, device);
    o.precision = parse_precision(a.precision.empty() ? "auto" : a.precision);
    trainer = std::make_unique<Trainer>(c, o, device);
  }
  if (a.resume && !a.precision.empty()) trainer->set_precision(parse_precision(a.precision));
  const ModelConfig& c = trainer->model().config;
  auto data = load_dataset(a.data, "train", c.image_size, c.image_channels);
  if (c.conditional()) data = with_condition_attributes(std::move(data));
  trainer->set_data(std::make_shared<const ImageSet>(std::move(data)));
  if (a.resume && a.lr != 1e-4) trainer->set_learning_rate(a.lr);

  int64_t total = a.steps > 0 ? a.steps
                  : a.epochs > 0 ? a.epochs * trainer->steps_per_epoch()
                                 : 10 * trainer->steps_per_epoch();
  fs::create_directories(out);
  bool append = a.resume && fs::exists(out / "log.csv");
  std::ofstream log(out / "log.csv", append ? std::ios::app : std::ios::trunc);
  if (!log) throw Error("cannot write " + (out / "log.csv").string());
  const auto& metric_names = *trainer->metric_names();
  if (!append) {
    log << "step,wall_s,loss_d,loss_g";
    for (const auto& m : metric_names) log << ',' << m;
    log << '\n';
  }

  const bool tty = ::isatty(STDOUT_FILENO);
  std::cout << "training " << c.arch << " with objective " << c.objective
            << (c.bigan ? " (BiGAN)" : "") << (c.conditional() ? " conditional" : "") << " on "
            << trainer->data().name << " (" << trainer->data().size() << " images), "
            << device_description(device) << ", step " << trainer->step_count() << " -> " << total
            << ", batch " << trainer->options().batch << ", " << precision_name(trainer->precision())
            << (trainer->options().precision == Precision::Auto ? " (auto)" : "") << "\n"
            << std::flush;

  std::signal(SIGINT, on_sigint);
  auto t0 = std::chrono::steady_clock::now();
  int64_t s0 = trainer->step_count();
  int64_t report_every = std::max<int64_t>(1, std::min<int64_t>(100, (total - s0) / 20));
  double wall = 0;
  while (trainer->step_count() < total && !g_interrupted) {
    StepStats s;
    try {
      s = trainer->step();
    } catch (const NonFiniteLoss& e) {
      std::cout << (tty ? "\n" : "");
      std::cerr << "ali: error: " << e.what() << "; training stopped. "
                << (fs::exists(ckpt) ? "The last good checkpoint is kept: " + ckpt.string()
                                     : std::string("No checkpoint had been written yet."))
                << "\n";
      throw ExitStatus{3};
    }
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log << s.step << ',' << std::fixed << std::setprecision(3) << wall << std::setprecision(5)
        << ',' << s.d_loss << ',' << s.g_loss;
    for (double v : s.metrics) log << ',' << v;
    log << '\n';
    if (s.step % 10 == 0) log.flush();  // so a long run can be followed while it trains
    double rate = double(s.step - s0) / std::max(wall, 1e-9);
    std::ostringstream line;
    line << "step " << s.step << "/" << total << " | " << std::fixed << std::setprecision(2) << rate
         << " it/s | ETA " << format_duration(double(total - s.step) / rate) << " | L_D "
         << std::setprecision(3) << s.d_loss << " L_GE " << s.g_loss << " |";
    for (size_t i = 0; i < metric_names.size(); ++i)
      if (metric_names[i] != "rec" || trainer->options().rec_weight > 0)
        line << ' ' << metric_names[i] << ' ' << s.metrics[i];
    if (tty)
      std::cout << "\r" << line.str() << "   " << std::flush;
    else if (s.step % report_every == 0 || s.step == total)
      std::cout << line.str() << "\n" << std::flush;
    bool last = s.step == total;
    if (a.checkpoint_every > 0 && (s.step % a.checkpoint_every == 0 || last)) {
      log.flush();
      trainer->save(ckpt);
      std::ostringstream name;
      name << "samples_" << std::setw(7) << std::setfill('0') << s.step << ".png";
      write_samples(*trainer, out / name.str());
    }
    if (a.keep_every > 0 && s.step % a.keep_every == 0) {
      std::ostringstream name;
      name << "checkpoint_" << std::setw(7) << std::setfill('0') << s.step << ".ali";
      trainer->save(out / name.str());  // kept, so the best one can be chosen by evaluation later
    }
  }
  std::signal(SIGINT, SIG_DFL);
  if (tty) std::cout << "\n";
  log.flush();
  trainer->save(ckpt);
  write_samples(*trainer, out / "samples_latest.png");
  if (g_interrupted) {
    std::cout << "interrupted at step " << trainer->step_count() << "; checkpoint saved to " << ckpt
              << " (continue with --resume)\n";
    throw ExitStatus{130};
  }
  std::cout << "done: " << trainer->step_count() << " steps in " << format_duration(wall)
            << "; checkpoint " << ckpt.string() << "\n";
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "train an ALI model");
  cmd->add_option("--data", a->data, "fashion-mnist, an IDX folder or an image folder")
      ->capture_default_str();
  cmd->add_option("--arch", a->arch,
                  "architecture preset: fmnist28, svhn32, cifar32, celeba64, tinyimagenet64")
      ->capture_default_str();
  cmd->add_flag("--bigan", a->bigan, "deterministic encoder (BiGAN)");
  cmd->add_flag("--conditional", a->conditional, "condition on the dataset's class labels");
  cmd->add_option("--nlat", a->nlat, "latent size (default: the preset's)");
  cmd->add_option("--steps", a->steps, "train until this many steps in all")->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", a->epochs, "train this many epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a->lr, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--d-lr-scale", a->d_lr_scale,
                  "discriminator learning rate = lr x this (1: the paper's shared rate)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rec-weight", a->rec_weight,
                  "add this x mean|x - G(E(x))| to the encoder/decoder loss (ALICE; 0: pure ALI)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_objective_options(cmd, a->objective);
  cmd->add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", a->precision,
                  "fp32, bf16 (autocast, fp32 master weights) or auto (bf16 where the hardware runs it "
                  "natively: AVX512_BF16/AMX CPUs, CUDA compute capability 8+); default auto, or the "
                  "checkpoint's on --resume")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--out", a->out, "run folder (checkpoint.ali, log.csv, samples)")->required();
  cmd->add_flag("--resume", a->resume, "continue the run in --out");
  cmd->add_option("--checkpoint-every", a->checkpoint_every, "steps between checkpoints (0: end only)")
      ->capture_default_str();
  cmd->add_option("--keep-every", a->keep_every,
                  "also keep checkpoint_STEP.ali every N steps (to pick the best by evaluation)");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace ali::cli
