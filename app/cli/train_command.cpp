// `ali train`: trains a model on a dataset, writing checkpoints, log.csv and sample grids.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ali/data.h"
#include "ali/device.h"
#include "ali/file_io.h"
#include "ali/image_io.h"
#include "ali/text.h"
#include "ali/trainer.h"
#include "commands.h"
#include "objective_args.h"

namespace fs = std::filesystem;

namespace ali::cli {
namespace {

// The signal that asked the run to end (0: none). SIGINT (Ctrl-C), SIGTERM (timeout, docker,
// systemd), SIGHUP (a closed terminal) and SIGPIPE (`| head`) all end the run the same way: the
// step in progress finishes, the checkpoint is saved, the exit status is 128 + the signal.
std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int sig) { g_signal = sig; }
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

void handle_stop_signals(bool on) {
  for (int sig : kStopSignals) {
    struct sigaction sa {};
    sa.sa_handler = on ? on_stop_signal : SIG_DFL;
    sa.sa_flags = SA_RESTART;  // a save in progress is not cut short
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

// A diverged run stops with exit status 3, naming the checkpoint that is kept (the last good one).
[[noreturn]] void stop_diverged(const std::string& why, const fs::path& ckpt) {
  std::cout << (::isatty(STDOUT_FILENO) ? "\n" : "") << std::flush;
  std::cerr << "ali: error: " << why << "; training stopped. "
            << (fs::exists(ckpt)
                    ? "The last good checkpoint is kept: " + ckpt.string() + " (step " +
                          std::to_string(read_checkpoint_header(ckpt).step) + ")"
                    : std::string("No checkpoint had been written yet."))
            << "\n";
  throw ExitStatus{3};
}

// After a resume, rows beyond the checkpoint's step were written by the run that was cut short and
// will be trained again: drop them so every step appears once.
void trim_log(const fs::path& log, int64_t step) {
  std::string text = read_regular_file(log, size_t(1) << 31, "log");
  std::istringstream in(text);
  std::string kept, line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header || line.empty()) {
      kept += line + "\n";
      header = false;
      continue;
    }
    int64_t s = -1;
    try {
      s = std::stoll(line.substr(0, line.find(',')));
    } catch (const std::exception&) {
      continue;  // a torn last line
    }
    if (s <= step) kept += line + "\n";
  }
  write_file_atomically(log, kept, "log");
}

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

// `--resume` continues a run as it was configured: an option given now that disagrees with the
// checkpoint is refused, never silently ignored.
void check_resume_options(const CLI::App& cmd, const TrainArgs& a, const Trainer& t) {
  const ModelConfig& c = t.model().config;
  const TrainOptions& o = t.options();
  std::vector<std::string> conflicts;
  auto given = [&](const char* opt) { return cmd.count(opt) > 0; };
  if (given("--arch") && a.arch != c.arch)
    conflicts.push_back("--arch " + a.arch + " (the run is " + c.arch + ")");
  if (given("--bigan") && a.bigan != c.bigan) conflicts.push_back("--bigan");
  if (given("--conditional") && a.conditional != c.conditional())
    conflicts.push_back("--conditional");
  if (given("--nlat") && a.nlat != c.nlat)
    conflicts.push_back("--nlat " + std::to_string(a.nlat) + " (the run has " +
                        std::to_string(c.nlat) + ")");
  if (given("--batch") && a.batch != o.batch)
    conflicts.push_back("--batch " + std::to_string(a.batch) + " (the run has " +
                        std::to_string(o.batch) + ")");
  if (given("--seed") && a.seed != o.seed) conflicts.push_back("--seed");
  if (given("--d-lr-scale") && a.d_lr_scale != o.d_lr_scale) conflicts.push_back("--d-lr-scale");
  if (given("--rec-weight") && a.rec_weight != o.rec_weight) conflicts.push_back("--rec-weight");
  if (conflicts.empty()) return;
  std::string list;
  for (const auto& x : conflicts) list += (list.empty() ? "" : ", ") + x;
  throw Error("--resume continues the run as it was configured; these options disagree with it: " +
              list + ". Drop them, or start a new run in another --out");
}

// Fixed codes (and, for conditional models, one class per row) so grids are comparable over time.
void write_samples(Trainer& t, const fs::path& file) {
  auto snap = t.model().clone_to(t.device());
  const ModelConfig& c = snap->config;
  const int cols = 8, count = 64;
  auto z = seeded_normal(count, c.nlat, t.options().seed + 1);
  save_png(file, make_grid(decode(*snap, z, sample_grid_attributes(c, count, cols)), cols));
}

void run_train(const CLI::App& cmd, const TrainArgs& a) {
  if (a.steps > 0 && a.epochs > 0) throw Error("give --steps or --epochs, not both");
  fs::path out = a.out;
  fs::path ckpt = out / "checkpoint.ali";
  torch::Device device = resolve_device(a.device);
  FolderLock lock(out);  // two runs in one folder would overwrite each other's checkpoints

  std::unique_ptr<Trainer> trainer;
  if (a.resume) {
    if (!fs::exists(ckpt)) throw Error("--resume: no checkpoint at " + ckpt.string());
    trainer = Trainer::resume(ckpt, device);
    check_resume_objective(a.objective, trainer->model().config);
    check_resume_options(cmd, a, *trainer);
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
    c = apply_objective_choice(c, o, a.objective, probe, a.data, planned, device,
                               [](const std::string& m) { std::cout << m << std::endl; });
    o.precision = parse_precision(a.precision.empty() ? "auto" : a.precision);
    trainer = std::make_unique<Trainer>(c, o, device);
  }
  if (a.resume && !a.precision.empty()) trainer->set_precision(parse_precision(a.precision));
  const ModelConfig& c = trainer->model().config;
  auto data = load_dataset(a.data, "train", c.image_size, c.image_channels);
  if (a.resume && !c.dataset.empty() && data.name != c.dataset)
    throw Error("--resume: the run in " + out.string() + " was trained on " + c.dataset + ", not " +
                data.name + " (give its --data)");
  if (c.conditional()) data = with_condition_attributes(std::move(data));
  trainer->set_data(std::make_shared<const ImageSet>(std::move(data)));
  if (a.resume && cmd.count("--lr") > 0)
    trainer->set_learning_rate(a.lr);  // recorded in the checkpoint

  int64_t total = a.steps > 0 ? a.steps
                  : a.epochs > 0 ? a.epochs * trainer->steps_per_epoch()
                                 : 10 * trainer->steps_per_epoch();
  fs::create_directories(out);
  const fs::path log_path = out / "log.csv";
  bool append = a.resume && fs::exists(log_path);
  if (append) trim_log(log_path, trainer->step_count());
  std::ofstream log(log_path, append ? std::ios::app : std::ios::trunc);
  if (!log) throw Error("cannot write " + log_path.string());
  const auto& metric_names = *trainer->metric_names();
  if (!append) {
    log << "step,wall_s,loss_d,loss_g";
    for (const auto& m : metric_names) log << ',' << m;
    log << '\n';
  }
  // A full disk must stop the run with a message, not leave a log that silently ends.
  auto flush_log = [&] {
    log.flush();
    if (!log) throw Error("cannot write " + log_path.string() + " (disk full?)");
  };
  int64_t saved_step = -1;
  // Saving refuses non-finite weights (a step whose loss was finite can still produce them): the
  // checkpoint on disk then stays the last good one.
  auto save = [&](const fs::path& where) {
    try {
      trainer->save(where);
    } catch (const NonFiniteWeights& e) {
      stop_diverged(std::string("training diverged: ") + e.what(), ckpt);
    }
    if (where == ckpt) saved_step = trainer->step_count();
  };

  const bool tty = ::isatty(STDOUT_FILENO);
  std::cout << "training " << c.arch << " with objective " << c.objective
            << (c.bigan ? " (BiGAN)" : "") << (c.conditional() ? " conditional" : "") << " on "
            << trainer->data().name << " (" << trainer->data().size() << " images), "
            << device_description(device) << ", step " << trainer->step_count() << " -> " << total
            << ", batch " << trainer->options().batch << ", " << precision_name(trainer->precision())
            << (trainer->options().precision == Precision::Auto ? " (auto)" : "") << "\n"
            << std::flush;

  handle_stop_signals(true);
  auto t0 = std::chrono::steady_clock::now();
  int64_t s0 = trainer->step_count();
  int64_t report_every = std::max<int64_t>(1, std::min<int64_t>(100, (total - s0) / 20));
  double wall = 0;
  while (trainer->step_count() < total && g_signal == 0) {
    StepStats s;
    try {
      s = trainer->step();
    } catch (const NonFiniteLoss& e) {
      stop_diverged(e.what(), ckpt);
    }
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log << s.step << ',' << std::fixed << std::setprecision(3) << wall << std::setprecision(5)
        << ',' << s.d_loss << ',' << s.g_loss;
    for (double v : s.metrics) log << ',' << v;
    log << '\n';
    if (s.step % 10 == 0) flush_log();  // so a long run can be followed while it trains
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
      flush_log();
      save(ckpt);
      std::ostringstream name;
      name << "samples_" << std::setw(7) << std::setfill('0') << s.step << ".png";
      write_samples(*trainer, out / name.str());
    }
    if (a.keep_every > 0 && s.step % a.keep_every == 0) {
      std::ostringstream name;
      name << "checkpoint_" << std::setw(7) << std::setfill('0') << s.step << ".ali";
      save(out / name.str());  // kept, so the best one can be chosen by evaluation later
    }
  }
  if (tty) std::cout << "\n";
  flush_log();
  if (saved_step != trainer->step_count()) save(ckpt);  // not twice when the cadence just saved
  write_samples(*trainer, out / "samples_latest.png");
  if (int sig = g_signal) {  // (handlers stay: the reader of a broken pipe is gone, say so quietly)
    std::cout << "stopped by " << (sig == SIGINT ? "an interrupt" : strsignal(sig)) << " at step "
              << trainer->step_count() << "; checkpoint saved to " << ckpt
              << " (continue with --resume)\n";
    throw ExitStatus{128 + sig};
  }
  handle_stop_signals(false);
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
  cmd->add_option("--nlat", a->nlat, "latent size (default: the preset's)")
      ->check(CLI::Range(0, kMaxLatentSize).description("0.." + std::to_string(kMaxLatentSize)));
  cmd->add_option("--steps", a->steps, "train until this many steps in all")->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", a->epochs, "train this many epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->batch, "batch size")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxBatch).description("1.." + std::to_string(kMaxBatch)));
  cmd->add_option("--lr", a->lr, "Adam learning rate")
      ->capture_default_str()
      ->check(finite_number(0, false));
  cmd->add_option("--d-lr-scale", a->d_lr_scale,
                  "discriminator learning rate = lr x this (1: the paper's shared rate)")
      ->capture_default_str()
      ->check(finite_number(0, false));
  cmd->add_option("--rec-weight", a->rec_weight,
                  "add this x mean|x - G(E(x))| to the encoder/decoder loss (ALICE; 0: pure ALI)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  add_objective_options(cmd, a->objective);
  cmd->add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", a->precision,
                  "fp32, bf16 (autocast, fp32 master weights) or auto (bf16 where the hardware runs it "
                  "natively: AVX512_BF16/AMX CPUs, CUDA compute capability 8+); default auto, or the "
                  "checkpoint's on --resume");
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str();
  cmd->add_option("--out", a->out, "run folder (checkpoint.ali, log.csv, samples)")->required();
  cmd->add_flag("--resume", a->resume, "continue the run in --out");
  cmd->add_option("--checkpoint-every", a->checkpoint_every, "steps between checkpoints (0: end only)")
      ->capture_default_str();
  cmd->add_option("--keep-every", a->keep_every,
                  "also keep checkpoint_STEP.ali every N steps (to pick the best by evaluation)");
  cmd->callback([a, cmd] { run_train(*cmd, *a); });
}

}  // namespace ali::cli
