// `ali train`: trains a model on a dataset, writing checkpoints, log.csv and sample grids.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "ali/data.h"
#include "ali/device.h"
#include "ali/evaluation.h"
#include "ali/file_io.h"
#include "ali/gradient_sync.h"
#include "ali/image_io.h"
#include "ali/text.h"
#include "ali/trainer.h"
#include "ali/training_session.h"
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
[[noreturn]] void stop_diverged(const std::string& why, const fs::path& ckpt, bool writer = true) {
  if (!writer) throw ExitStatus{3};  // rank 0 says it, once
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
  double aux_weight = 0.0;
  double prior_weight = 0.0;
  double independence_weight = 0.0;
  double contrastive_weight = 0.0;
  double aux_edit_weight = 0.0;
  bool fit_encoder = false;
  std::string init_from;  // a model file a new run starts from (fine-tuning)
  std::string device = "auto";
  uint64_t seed = 0;
  std::string out;
  bool resume = false;
  int64_t checkpoint_every = 500;
  int64_t keep_every = 0;
  int nlat = 0;
  ObjectiveArgs objective;
  std::string precision;  // empty: auto for a new run, the checkpoint's on --resume
  int nproc = 0;          // > 0: spawn this many local processes (data-parallel)
  double timeout = 300;   // seconds before a silent peer is an error
};

// The program's own command line, for --nproc to start copies of it.
std::vector<std::string>& program_arguments() {
  static std::vector<std::string> args;
  return args;
}

// The options given on this command line that would shape a model otherwise than `c` (a run being
// resumed, or the model --init-from starts from): "--arch svhn32 (the run is fmnist28)".
std::vector<std::string> shape_conflicts(const CLI::App& cmd, const TrainArgs& a,
                                         const ModelConfig& c, const std::string& whose) {
  std::vector<std::string> conflicts;
  auto given = [&](const char* opt) { return cmd.count(opt) > 0; };
  if (given("--arch") && a.arch != c.arch)
    conflicts.push_back("--arch " + a.arch + " (" + whose + " is " + c.arch + ")");
  if (given("--bigan") && a.bigan != c.bigan) conflicts.push_back("--bigan");
  if (given("--conditional") && a.conditional != c.conditional())
    conflicts.push_back("--conditional");
  if (given("--nlat") && a.nlat != c.nlat)
    conflicts.push_back("--nlat " + std::to_string(a.nlat) + " (" + whose + " has " +
                        std::to_string(c.nlat) + ")");
  return conflicts;
}

// `--init-from`: a new run shaped as the model it starts from (arch, code size, encoder kind,
// attributes, framing); the objective's fields come from this run's options. Options that would
// shape it otherwise are refused.
ModelConfig init_from_config(const CLI::App& cmd, const TrainArgs& a, const ModelConfig& from) {
  if (auto conflicts = shape_conflicts(cmd, a, from, "the model"); !conflicts.empty())
    throw Error("--init-from " + a.init_from + ": these options disagree with the model: " +
                joined(conflicts));
  ModelConfig c;
  c.arch = from.arch;
  c.nlat = from.nlat;
  c.image_channels = from.image_channels;
  c.image_size = from.image_size;
  c.bigan = from.bigan;
  c.attributes = from.attributes;
  c.framing = from.framing;
  return c.resolved();
}

// `--resume` continues a run as it was configured: an option given now that disagrees with the
// checkpoint is refused, never silently ignored.
void check_resume_options(const CLI::App& cmd, const TrainArgs& a, const Trainer& t) {
  const TrainOptions& o = t.options();
  std::vector<std::string> conflicts = shape_conflicts(cmd, a, t.model().config, "the run");
  auto given = [&](const char* opt) { return cmd.count(opt) > 0; };
  if (given("--batch") && a.batch != o.batch)
    conflicts.push_back("--batch " + std::to_string(a.batch) + " (the run has " +
                        std::to_string(o.batch) + ")");
  if (given("--seed") && a.seed != o.seed) conflicts.push_back("--seed");
  if (given("--d-lr-scale") && a.d_lr_scale != o.d_lr_scale) conflicts.push_back("--d-lr-scale");
  if (given("--rec-weight") && a.rec_weight != o.rec_weight) conflicts.push_back("--rec-weight");
  if (given("--aux-weight") && a.aux_weight != o.aux_weight) conflicts.push_back("--aux-weight");
  if (given("--prior-weight") && a.prior_weight != o.prior_weight) conflicts.push_back("--prior-weight");
  if (given("--independence-weight") && a.independence_weight != o.independence_weight)
    conflicts.push_back("--independence-weight");
  if (given("--contrastive-weight") && a.contrastive_weight != o.contrastive_weight)
    conflicts.push_back("--contrastive-weight");
  if (given("--aux-edit-weight") && a.aux_edit_weight != o.aux_edit_weight)
    conflicts.push_back("--aux-edit-weight");
  if (given("--fit-encoder") && a.fit_encoder != o.fit_encoder) conflicts.push_back("--fit-encoder");
  if (given("--init-from")) conflicts.push_back("--init-from (it starts a new run)");
  if (conflicts.empty()) return;
  throw Error("--resume continues the run as it was configured; these options disagree with it: " +
              joined(conflicts) + ". Drop them, or start a new run in another --out");
}

// Fixed codes (and, for conditional models, one class per row) so grids are comparable over time.
void write_samples(const Trainer& t, const fs::path& file) {
  auto snap = t.model().clone_to(t.device());
  const ModelConfig& c = snap->config;
  const int cols = 8, count = 64;
  auto z = seeded_normal(count, c.nlat, t.options().seed + 1);
  save_png(file, make_grid(decode(*snap, z, sample_grid_attributes(c, count, cols)), cols));
}

// log.csv, the progress line and the sample grids of a run folder: the CLI's part of the one
// training loop (TrainingSession), which calls it on rank 0 only.
class RunFolderWriter : public SessionObserver {
 public:
  RunFolderWriter(const fs::path& out, int64_t total, bool append, const Trainer& t)
      : out_(out), log_path_(out / "log.csv"), total_(total), tty_(::isatty(STDOUT_FILENO)) {
    log_.open(log_path_, append ? std::ios::app : std::ios::trunc);
    if (!log_) throw Error("cannot write " + log_path_.string());
    if (!append) {
      log_ << "step,wall_s,loss_d,loss_g";
      for (const auto& m : *t.metric_names()) log_ << ',' << m;
      log_ << '\n';
    }
    s0_ = t.step_count();
    report_every_ = std::max<int64_t>(1, std::min<int64_t>(100, (total - s0_) / 20));
    t0_ = std::chrono::steady_clock::now();
  }

  double wall() const { return wall_; }

  // Median step and gradient-sync times of this run (bench/distributed_step.sh reads them).
  std::string timing() const {
    if (step_s_.empty()) return {};
    auto median = [](std::vector<double> v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2] * 1000;
    };
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << "median step " << median(step_s_) << " ms";
    if (world_ > 1) o << ", of which all-reduce " << median(sync_s_) << " ms";
    return o.str();
  }

  void on_step(const Trainer& t, const StepStats& s) override {
    world_ = t.world_size();
    step_s_.push_back(s.seconds);
    sync_s_.push_back(s.sync_seconds);
    wall_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    log_ << s.step << ',' << std::fixed << std::setprecision(3) << wall_ << std::setprecision(5) << ','
         << s.d_loss << ',' << s.g_loss;
    for (double v : s.metrics) log_ << ',' << v;
    log_ << '\n';
    if (s.step % 10 == 0) flush_log();  // so a long run can be followed while it trains
    const auto& metric_names = *t.metric_names();
    double rate = double(s.step - s0_) / std::max(wall_, 1e-9);
    std::ostringstream line;
    line << "step " << s.step << "/" << total_ << " | " << std::fixed << std::setprecision(2) << rate
         << " it/s | ETA " << format_duration(double(total_ - s.step) / rate) << " | "
         << std::setprecision(3);
    if (t.options().fit_encoder)  // no D: the encoder's loss alone
      line << "L_E " << s.g_loss << " |";
    else
      line << "L_D " << s.d_loss << " L_GE " << s.g_loss << " |";
    for (size_t i = 0; i < metric_names.size(); ++i)
      if (metric_names[i] != "rec" || t.options().rec_weight > 0)
        line << ' ' << metric_names[i] << ' ' << s.metrics[i];
    if (tty_)
      std::cout << "\r" << line.str() << "   " << std::flush;
    else if (s.step % report_every_ == 0 || s.step == total_)
      std::cout << line.str() << "\n" << std::flush;
  }

  // A checkpoint never runs ahead of the log (a resume trims rows beyond it, never misses any).
  void before_checkpoint(const Trainer&) override { flush_log(); }

  void on_checkpoint(const Trainer& t, bool periodic) override {
    if (!periodic) return;
    std::ostringstream name;
    name << "samples_" << std::setw(7) << std::setfill('0') << t.step_count() << ".png";
    write_samples(t, out_ / name.str());
  }

  void on_end(const Trainer& t) override {
    if (tty_) std::cout << "\n";
    flush_log();
    write_samples(t, out_ / "samples_latest.png");
  }

 private:
  // A full disk must stop the run with a message, not leave a log that silently ends.
  void flush_log() {
    log_.flush();
    if (!log_) throw Error("cannot write " + log_path_.string() + " (disk full?)");
  }

  fs::path out_, log_path_;
  std::ofstream log_;
  int64_t total_, s0_ = 0, report_every_ = 1;
  bool tty_;
  std::chrono::steady_clock::time_point t0_;
  double wall_ = 0;
  int world_ = 1;
  std::vector<double> step_s_, sync_s_;
};

// This process's place in a data-parallel launch (torchrun, Slurm, Open MPI or --nproc's own
// variables); nullopt for a plain single-process run.
std::optional<LaunchEnv> distributed_launch() {
  auto env = launch_from_environment();
  if (!env || env->world_size <= 1) return std::nullopt;
  if (!distributed_supported()) throw Error(distributed_unsupported_message(*env));
  return env;
}

void run_train(const CLI::App& cmd, const TrainArgs& a) {
  if (a.steps > 0 && a.epochs > 0) throw Error("give --steps or --epochs, not both");
  fs::path out = a.out;
  fs::path ckpt = out / "checkpoint.ali";
  torch::Device device = resolve_device(a.device);

  // Data-parallel: join the others first, so that a rank that fails below (a held lock, a missing
  // checkpoint) ends the others at their next collective instead of leaving them waiting.
  std::shared_ptr<GradientSync> sync = std::make_shared<GradientSync>();
  const auto launch = distributed_launch();
  if (launch) {
    if (!std::getenv("ALI_THREADS"))  // the cores are shared by the processes of this node
      at::set_num_threads(std::max(1, int(std::thread::hardware_concurrency()) / launch->local_world_size));
    if (device.is_cuda()) device = torch::Device(torch::kCUDA, launch->local_rank);  // one GPU each
    sync = make_distributed_sync(
        *launch, std::chrono::milliseconds(int64_t(a.timeout * 1000)), device);
  }
  const int rank = sync->rank(), world = sync->world_size();
  const bool writer = rank == 0;  // only rank 0 writes the folder (it may not even be shared)
  std::optional<FolderLock> lock;
  if (writer) lock.emplace(out);  // two runs in one folder would overwrite each other's checkpoints
  if (writer) remove_stale_temporaries_in(out);

  // torchrun --max_restarts relaunches every process with the same command line after a failure:
  // a relaunched run continues from its checkpoint rather than refusing the folder it wrote.
  bool resume = a.resume;
  if (!resume && launch && launch->restart_count > 0 && fs::exists(ckpt)) {
    resume = true;
    if (writer)
      std::cout << "torchrun restart " << launch->restart_count << ": resuming from " << ckpt.string()
                << std::endl;
  }
  std::unique_ptr<Trainer> trainer;
  if (resume) {
    if (!fs::exists(ckpt)) throw Error("--resume: no checkpoint at " + ckpt.string());
    trainer = Trainer::resume(ckpt, device);
    check_resume_objective(a.objective, trainer->model().config);
    check_resume_options(cmd, a, *trainer);
  } else {
    if (writer && fs::exists(ckpt))
      throw Error(ckpt.string() + " already exists: use --resume to continue it, or another --out");
    if (a.fit_encoder && a.init_from.empty())
      throw Error("--fit-encoder fits the encoder to a trained model's decoder: give that model "
                  "with --init-from");
    ModelConfig c;
    std::shared_ptr<AliModel> start;  // --init-from's model
    CheckpointHeader start_header;
    if (!a.init_from.empty()) {
      start = load_model(a.init_from, device, &start_header);
      c = init_from_config(cmd, a, start->config);
    } else {
      c.arch = a.arch;
      c.bigan = a.bigan;
      c.nlat = a.nlat;
      c = c.resolved();
    }
    auto probe = load_dataset(a.data, "train", c.image_size, c.image_channels);
    if (a.conditional || c.conditional()) {  // class-conditional: the data's names are the attributes
      auto names = with_condition_attributes(probe).attribute_names;
      if (start && names != c.attributes)
        throw Error("--init-from: " + a.init_from + " is conditioned on other attributes than " +
                    a.data + " carries");
      c.attributes = names;
      // Labels when the data brings its own (a CelebA-layout folder's, whatever their names), else
      // its classes one-hot (an IDX set's, an image folder's).
      c.attribute_classes = !(probe.attributes.defined() && !probe.attribute_names.empty());
    }
    TrainOptions o;
    o.batch = a.batch;
    o.lr = a.lr;
    o.d_lr_scale = a.d_lr_scale;
    o.rec_weight = a.rec_weight;
    o.aux_weight = a.aux_weight;
    o.prior_weight = a.prior_weight;
    o.independence_weight = a.independence_weight;
    o.contrastive_weight = a.contrastive_weight;
    o.aux_edit_weight = a.aux_edit_weight;
    o.fit_encoder = a.fit_encoder;
    o.seed = a.seed;
    ObjectiveChoice choice = a.objective;
    if (world > 1 && choice.objective == "gali-pretrain" && choice.feature_net.empty()) {
      // M, the evaluation classifier, is trained once: by rank 0 when it is not cached yet, while
      // the others wait (within --timeout), then read by every rank from the cache. Ranks on other
      // machines need the cache on a shared path, or --feature-net.
      const fs::path path = default_classifier_path(a.data, c.image_channels, c.image_size);
      if (writer)
        ensure_default_classifier(a.data, probe, c.image_channels, c.image_size, [](const std::string& m) {
          std::cout << m << " while the other processes wait" << std::endl;
        });
      auto done = torch::ones({1});
      sync->sum(done);  // a barrier: every rank is here once rank 0 has the classifier
      if (!fs::exists(path))
        throw Error("rank " + std::to_string(rank) + ": the evaluation classifier " + path.string() +
                    " that rank 0 trained is not on this machine: put the cache on a shared path or "
                    "give --feature-net FILE");
      choice.feature_net = path.string();
    }
    int64_t planned = a.steps > 0 ? a.steps
                                  : (a.epochs > 0 ? a.epochs : 10) *
                                        std::max<int64_t>(1, probe.size() / (int64_t(a.batch) * world));
    c = apply_objective_choice(c, o, choice, probe, a.data, planned, device,
                               [writer](const std::string& m) {
                                 if (writer) std::cout << m << std::endl;
                               });
    o.precision = parse_precision(a.precision.empty() ? "auto" : a.precision);
    trainer = std::make_unique<Trainer>(c, o, device);
    if (start) {
      auto fresh = trainer->init_weights_from(
          *start, {{"file", fs::absolute(a.init_from).lexically_normal().string()},
                   {"step", start_header.step}});
      if (writer)
        std::cout << "starting from the weights of " << a.init_from
                  << (fresh.empty() ? "" : "; new: " + joined(fresh)) << std::endl;
    }
  }
  if (resume && !a.precision.empty()) trainer->set_precision(parse_precision(a.precision));
  const ModelConfig& c = trainer->model().config;
  auto data = load_dataset(a.data, "train", c.image_size, c.image_channels);
  if (resume && !c.dataset.empty() && data.name != c.dataset)
    throw Error("--resume: the run in " + out.string() + " was trained on " + c.dataset + ", not " +
                data.name + (cmd.count("--data") ? "" : " (--data's default)") + ": give its --data");
  if (c.conditional()) data = with_condition_attributes(std::move(data));
  trainer->set_data(std::make_shared<const ImageSet>(std::move(data)));
  trainer->set_gradient_sync(sync);  // rank 0's weights, this rank's slice and noise
  if (resume && cmd.count("--lr") > 0)
    trainer->set_learning_rate(a.lr);  // recorded in the checkpoint

  int64_t total = a.steps > 0 ? a.steps
                  : a.epochs > 0 ? a.epochs * trainer->steps_per_epoch()
                                 : 10 * trainer->steps_per_epoch();
  std::shared_ptr<RunFolderWriter> folder;
  if (writer) {
    fs::create_directories(out);
    const fs::path log_path = out / "log.csv";
    bool append = resume && fs::exists(log_path);
    if (append) trim_log(log_path, trainer->step_count());
    folder = std::make_shared<RunFolderWriter>(out, total, append, *trainer);
    std::cout << "training " << c.arch << " with objective " << c.objective
              << (c.bigan ? " (BiGAN)" : "") << (c.conditional() ? " conditional" : "") << " on "
              << trainer->data().name << " (" << trainer->data().size() << " images), "
              << device_description(device) << ", step " << trainer->step_count() << " -> " << total
              << ", batch " << trainer->options().batch;
    if (world > 1)
      std::cout << " x " << world << " processes (" << launch->launcher << ", "
                << at::get_num_threads() << " threads each)";
    std::cout << ", " << precision_name(trainer->precision())
              << (trainer->options().precision == Precision::Auto ? " (auto)" : "") << "\n"
              << std::flush;
    if (trainer->precision() == Precision::BF16 && !bf16_native(device))
      std::cout << "note: this processor has no native bf16 arithmetic (AVX512_BF16/AMX): bf16 is "
                   "emulated, much slower than fp32 and less exact; --precision auto picks fp32 here\n"
                << std::flush;
  }

  SessionOptions so;
  so.max_steps = total;
  so.checkpoint_every = a.checkpoint_every;
  so.checkpoint_path = ckpt;
  so.keep_every = a.keep_every;
  so.publish_snapshots = false;
  so.history_limit = 1000;
  so.should_stop = [] { return g_signal != 0; };
  if (folder) so.observers.push_back(folder);

  handle_stop_signals(true);
  int64_t final_step = 0;
  {
    TrainingSession session(std::move(trainer), so);
    session.start();
    session.wait();
    final_step = session.step();
    if (session.state() == TrainState::Error) {
      try {
        std::rethrow_exception(session.error_exception());
      } catch (const NonFiniteLoss& e) {
        stop_diverged(e.what(), ckpt, writer);
      } catch (const NonFiniteWeights& e) {
        stop_diverged(std::string("training diverged: ") + e.what(), ckpt, writer);
      }
    }
  }
  if (int sig = g_signal) {  // (handlers stay: the reader of a broken pipe is gone, say so quietly)
    if (writer)
      std::cout << "stopped by " << (sig == SIGINT ? "an interrupt" : strsignal(sig)) << " at step "
                << final_step << "; checkpoint saved to " << ckpt
                << " (continue with --resume)\n";
    throw ExitStatus{128 + sig};
  }
  handle_stop_signals(false);
  if (writer)
    std::cout << "done: " << final_step << " steps in "
              << format_duration(folder->wall()) << " (" << folder->timing() << "); checkpoint "
              << ckpt.string() << "\n";
}

// `ali train --nproc N`: N copies of this command (without --nproc) on this machine, wired as
// torchrun would (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT on a free
// loopback port), each with cores / N threads. Signals reach every copy; the exit status is the
// first failing copy's (0 when all succeed).
int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("--nproc: cannot open a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(std::string("--nproc: no free port on 127.0.0.1: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

void spawn_local(const TrainArgs& a) {
  if (auto env = launch_from_environment(); env && env->world_size > 1)
    throw Error("--nproc " + std::to_string(a.nproc) + " inside a " + env->launcher + " launch of " +
                std::to_string(env->world_size) + " processes: use one or the other");
  if (!distributed_supported()) {
    LaunchEnv e;
    e.world_size = a.nproc;
    e.launcher = "--nproc";
    throw Error(distributed_unsupported_message(e));
  }
  std::vector<std::string> args;
  const auto& all = program_arguments();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (all[i].rfind("--nproc=", 0) == 0) continue;
    args.push_back(all[i]);
  }
  if (args.empty()) throw Error("--nproc: the program's command line is unknown");
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  const int port = free_loopback_port();
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  const std::string threads = std::to_string(std::max(1, cores / a.nproc));
  std::vector<pid_t> pids;
  handle_stop_signals(true);
  for (int r = 0; r < a.nproc; ++r) {
    // The child's environment and arguments are built before fork: between fork and exec only
    // async-signal-safe calls (this process has other threads).
    std::map<std::string, std::string> vars;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    vars["RANK"] = vars["LOCAL_RANK"] = std::to_string(r);
    vars["WORLD_SIZE"] = vars["LOCAL_WORLD_SIZE"] = std::to_string(a.nproc);
    vars["MASTER_ADDR"] = "127.0.0.1";
    vars["MASTER_PORT"] = std::to_string(port);
    vars.try_emplace("ALI_THREADS", threads);  // the user's own choice stays
    vars.try_emplace("OMP_NUM_THREADS", threads);
    std::vector<std::string> env_strings;
    for (auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& x : args) argv.push_back(x.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw Error(std::string("--nproc: cannot start a process: ") + std::strerror(errno));
    if (pid == 0) {
      struct sigaction sa {};  // the parent's handlers are not the child's (exec resets them too)
      sa.sa_handler = SIG_DFL;
      for (int sig : kStopSignals) ::sigaction(sig, &sa, nullptr);
      ::execve(exe.c_str(), argv.data(), envp.data());
      const char msg[] = "ali: error: --nproc: cannot run the ali program again\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int status_out = 0, first_failed = -1;
  size_t running = pids.size();
  int forwarded = 0;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    if (int sig = g_signal; sig != 0 && sig != forwarded) {  // a terminal's ^C reaches all; others not
      for (pid_t p : pids)
        if (p > 0) ::kill(p, sig);
      forwarded = sig;
    }
    int status = 0;
    pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      if (std::chrono::steady_clock::now() > kill_deadline)  // a copy that outlived its own timeout
        for (pid_t p : pids)
          if (p > 0) ::kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] != done) continue;
      pids[r] = -1;
      --running;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && first_failed < 0) {
        first_failed = int(r);
        status_out = code;
        if (running > 0)  // the others end by their own timeout at the latest; never wait forever
          kill_deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(int64_t(a.timeout * 1000) + 30000);
      }
    }
  }
  if (first_failed >= 0) {
    if (g_signal == 0)
      std::cerr << "ali: error: --nproc " << a.nproc << ": rank " << first_failed
                << " failed (exit status " << status_out << ")\n";
    throw ExitStatus{status_out};
  }
  handle_stop_signals(false);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "train an ALI model");
  cmd->add_option("--data", a->data, "fashion-mnist, an IDX folder or an image folder")
      ->capture_default_str();
  std::string presets;
  for (const auto& name : arch_preset_names()) presets += (presets.empty() ? "" : ", ") + name;
  cmd->add_option("--arch", a->arch, "architecture preset: " + presets)->capture_default_str();
  cmd->add_flag("--bigan", a->bigan, "deterministic encoder (BiGAN)");
  cmd->add_flag("--conditional", a->conditional, "condition on the dataset's class labels");
  cmd->add_option("--nlat", a->nlat, "latent size (default: the preset's)")
      ->check(CLI::Range(0, kMaxLatentSize).description("0.." + std::to_string(kMaxLatentSize)));
  cmd->add_option("--steps", a->steps, "train until this many steps in all")->check(whole_number(1));
  cmd->add_option("--epochs", a->epochs, "train this many epochs")->check(whole_number(1));
  cmd->add_option("--batch", a->batch, "batch size (BatchNorm needs 2 or more)")
      ->capture_default_str()
      ->check(whole_number(2, kMaxBatch));
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
  cmd->add_option("--aux-weight", a->aux_weight,
                  "conditional ALI: give D a classifier of the attributes from x alone and train "
                  "the decoder to be read as asked, with this weight (AC-GAN; 0: none)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  cmd->add_option("--prior-weight", a->prior_weight,
                  "add this x the KL from a Gaussian fitted to each batch's codes E(x) to N(0, I) "
                  "to the encoder's loss, so that codes spread like the prior (needs batch > latent "
                  "size; 0: none)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  cmd->add_option("--independence-weight", a->independence_weight,
                  "conditional models: add this x the squared correlations of each batch's codes "
                  "E(x, y) with its attributes, summed where above chance, to the encoder's loss, so "
                  "that codes carry what the attributes do not, as the decoder's z (0: none)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  cmd->add_option("--contrastive-weight", a->contrastive_weight,
                  "add this x a contrastive loss (NT-Xent) of each batch's codes mu(x) against those "
                  "of a shifted, partly erased copy of it to the encoder's loss, so that codes keep "
                  "what survives small changes of an image (0: none)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  cmd->add_option("--aux-edit-weight", a->aux_edit_weight,
                  "with --aux-weight: also draw each batch with one attribute per row re-drawn and "
                  "train the decoder to be read as so edited, with this weight (0: none)")
      ->capture_default_str()
      ->check(finite_number(0, true));
  cmd->add_flag("--fit-encoder", a->fit_encoder,
                "with --init-from: fit the encoder alone to the model's decoder, from --rec-weight's "
                "reconstruction term (and --prior-weight's, --contrastive-weight's); the decoder and "
                "D stay as they are and D is not run (a stage after training)");
  cmd->add_option("--init-from", a->init_from,
                  "start a new run from this model's weights (fine-tuning; its arch, code size and "
                  "attributes; new parts such as --aux-weight's classifier start fresh)")
      ->check(CLI::ExistingFile);
  add_objective_options(cmd, a->objective);
  cmd->add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", a->precision,
                  "fp32, bf16 (autocast, fp32 master weights) or auto (bf16 where the hardware runs it "
                  "natively: AVX512_BF16/AMX CPUs, CUDA compute capability 8+); default auto, or the "
                  "checkpoint's on --resume");
  cmd->add_option("--seed", a->seed, "random seed")->capture_default_str()->check(seed_number());
  cmd->add_option("--out", a->out, "run folder (checkpoint.ali, log.csv, samples)")->required();
  cmd->add_flag("--resume", a->resume, "continue the run in --out");
  cmd->add_option("--checkpoint-every", a->checkpoint_every, "steps between checkpoints (0: end only)")
      ->capture_default_str()
      ->check(whole_number(0));
  cmd->add_option("--keep-every", a->keep_every,
                  "also keep checkpoint_STEP.ali every N steps (to pick the best by evaluation)")
      ->check(whole_number(1));
  cmd->add_option("--nproc", a->nproc,
                  "train data-parallel in this many local processes (batch is per process; torchrun, "
                  "Slurm and Open MPI launches are recognised by their variables)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--timeout", a->timeout,
                  "data-parallel: seconds before a peer that does not answer is an error")
      ->capture_default_str()
      ->check(finite_number(0, false));
  cmd->callback([a, cmd] {
    if (a->nproc > 1)
      spawn_local(*a);
    else
      run_train(*cmd, *a);
  });
}

void set_program_arguments(int argc, char** argv) {
  program_arguments().assign(argv, argv + argc);
}

}  // namespace ali::cli
