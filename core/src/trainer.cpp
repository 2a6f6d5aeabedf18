#include "ali/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "ali/batch_statistics.h"
#include "ali/error.h"
#include "ali/fused_adam.h"

namespace ali {

double StepStats::metric(const std::string& name) const {
  if (metric_names)
    for (size_t i = 0; i < metric_names->size() && i < metrics.size(); ++i)
      if ((*metric_names)[i] == name) return metrics[i];
  return std::numeric_limits<double>::quiet_NaN();
}

namespace {
std::unique_ptr<torch::optim::Adam> make_adam(const std::vector<torch::Tensor>& params,
                                              const TrainOptions& o, double lr) {
  return std::make_unique<FusedAdam>(  // Adam's state and files; one pass a parameter (fused_adam.h)
      params, torch::optim::AdamOptions(lr).betas(std::make_tuple(o.beta1, o.beta2)));
}

std::vector<torch::Tensor> concat(std::vector<torch::Tensor> a, const std::vector<torch::Tensor>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

at::Generator cpu_generator() { return at::detail::getDefaultCPUGenerator(); }

// Adam's moments from a file must have their parameters' shapes and be finite: a crafted or
// diverged file would otherwise fail at the first step with LibTorch's text, or train on NaN.
void check_adam_state(torch::optim::Adam& opt, const std::string& what) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) {
      auto it = opt.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == opt.state().end()) continue;
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      for (const torch::Tensor& m : {st.exp_avg(), st.exp_avg_sq()}) {
        if (m.defined() && m.sizes() != p.sizes())
          throw Error(what + ": its optimiser state does not match its weights");
        if (m.defined() && !torch::isfinite(m).all().item<bool>())
          throw Error(what + " holds non-finite optimiser state: it was saved from a diverged run");
      }
    }
}

// Training stores the 4-d weights NHWC, so oneDNN runs every convolution (the transposed ones too:
// conv_transpose.cpp) in NHWC: faster on every preset measured (bench/README.md). ALI_CHANNELS_LAST=0
// keeps NCHW (to compare); 1 is the default.
void apply_memory_format(AliModel& m) {  // idempotent: a resumed model is converted after loading
  if (const char* e = std::getenv("ALI_CHANNELS_LAST"); e && *e) {
    const std::string v = e;
    if (v != "0" && v != "1")
      throw Error("ALI_CHANNELS_LAST='" + v + "' must be 0 (NCHW) or 1 (channels_last)");
    if (v == "0") return;
  }
  torch::NoGradGuard ng;
  for (auto& p : all_tensors(m, false))
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

std::shared_ptr<AliModel> seeded_model(const ModelConfig& config, uint64_t seed) {
  torch::manual_seed(seed);  // the initial weights and the random stream follow the seed
  return std::make_shared<AliModel>(config);
}
}  // namespace

Trainer::Trainer(const ModelConfig& config, const TrainOptions& options, torch::Device device)
    : Trainer(config, options, device, nullptr) {}

Trainer::Trainer(const ModelConfig& config, const TrainOptions& options, torch::Device device,
                 std::unique_ptr<Objective> objective)
    : model_(seeded_model(config, options.seed)), options_(options), device_(device) {
  validate_train_options(options_);
  objective_ = objective ? std::move(objective) : make_objective(model_->config, options_, device_);
  metric_names_ = std::make_shared<const std::vector<std::string>>(objective_->metric_names());
  model_->to(device_);
  apply_memory_format(*model_);
  model_->train(true);
  build_optimisers();
}

void Trainer::build_optimisers() {
  opt_d_ = make_adam(model_->discriminator->parameters(), options_, options_.lr * options_.d_lr_scale);
  opt_g_ = make_adam(concat(model_->encoder->parameters(), model_->decoder->parameters()), options_,
                     options_.lr);
}

std::unique_ptr<Trainer> Trainer::resume(const std::filesystem::path& path, torch::Device device) {
  CheckpointFile f = read_checkpoint_file(path);
  auto t = std::make_unique<Trainer>(f.header.config, f.header.options, device);
  torch::serialize::InputArchive archive;
  read_weights_archive(f.payload, device, archive, path.string());
  load_networks(*t->model_, archive, path.string());
  t->model_->to(device);
  apply_memory_format(*t->model_);  // loading adopts the file's strides
  // Module::load may swap tensors; rebuild the optimisers on the loaded parameters, then restore them.
  t->build_optimisers();
  try {
    torch::serialize::InputArchive od, og;
    // A weights-only file (save_model) has no optimiser state: Adam starts afresh.
    if (archive.try_read("opt_d", od) && archive.try_read("opt_g", og)) {
      t->opt_d_->load(od);
      t->opt_g_->load(og);
      check_adam_state(*t->opt_d_, path.string());
      check_adam_state(*t->opt_g_, path.string());
    }
    torch::Tensor rng;
    if (archive.try_read("rng_cpu", rng)) {
      auto gen = cpu_generator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng.cpu());
    }
  } catch (const c10::Error& e) {
    throw Error(path.string() + ": optimiser state does not match (" + e.what_without_backtrace() +
                ")");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(path.string() + ": optimiser state is unreadable (" + describe_exception(e) + ")");
  }
  t->step_ = f.header.step;
  t->output_bias_set_ = true;
  if (auto it = f.header.extra.find("started_from");
      it != f.header.extra.end() && it->is_object())
    t->started_from_ = *it;
  t->model_->train(true);
  return t;
}

std::vector<std::string> Trainer::init_weights_from(const AliModel& source,
                                                    const nlohmann::json& origin) {
  if (step_ != 0) throw Error("weights can only be taken from another model before the first step");
  check_compatible(source.config, model_->config, "the model to start from");
  auto fresh = model_->copy_matching_state_from(source);
  output_bias_set_ = true;  // the decoder's output bias came with the weights
  started_from_ = origin.is_null() ? nlohmann::json::object() : origin;
  return fresh;
}

void Trainer::set_data(std::shared_ptr<const ImageSet> data) {
  const ModelConfig& c = model_->config;
  if (!data || data->size() == 0) throw Error("the training set is empty");
  check_images_fit(c, *data, "training images", "data");
  objective_->prepare(data, options_);
  data_ = std::move(data);
  if (model_->config.dataset.empty()) model_->config.dataset = data_->name;
  if (!output_bias_set_ && step_ == 0) {
    auto idx = epoch_permutation(data_->size(), options_.seed ^ 0x5A5A5A5Aull, 0)
                   .narrow(0, 0, std::min<int64_t>(500, data_->size()));
    model_->decoder->init_output_bias(data_->float_images(idx).to(device_));
    output_bias_set_ = true;
  }
  rebuild_loader();
}

void Trainer::rebuild_loader() {
  loader_.reset();
  loader_ = std::make_unique<BatchLoader>(data_, options_.batch, options_.seed, step_, device_, 3,
                                          rank(), world_size());
}

int64_t Trainer::steps_per_epoch() const {
  return data_ ? std::max<int64_t>(1, data_->size() / (int64_t(options_.batch) * world_size())) : 0;
}

void Trainer::set_gradient_sync(std::shared_ptr<GradientSync> sync) {
  sync_ = sync ? std::move(sync) : std::make_shared<GradientSync>();
  if (world_size() > 1) {
    // The same weights everywhere (a fresh model is seeded alike, a resumed one read from one file;
    // the broadcast makes it so whatever the initialisation did).
    sync_->broadcast(all_tensors(*model_, false));
    sync_->broadcast(all_tensors(*model_, true));
    // Rank 0 keeps the stream a single process would draw (and a checkpoint restores); the others
    // draw their own, a function of (seed, rank, step) so a resumed run is reproducible.
    if (rank() > 0)
      torch::manual_seed(options_.seed + 0x9E3779B97F4A7C15ull * uint64_t(rank()) + uint64_t(step_));
  }
  if (data_) rebuild_loader();
}

void Trainer::sync_buffers() {
  if (world_size() > 1) sync_->broadcast(all_tensors(*model_, true));
}

StepStats Trainer::step() {
  if (!loader_) throw Error("no training data set");
  auto t0 = std::chrono::steady_clock::now();
  Batch b = loader_->next();
  if (b.step != step_) {  // the stream always matches the counter; rebuild if it ever drifts
    rebuild_loader();
    b = loader_->next();
  }
  StepContext ctx;
  ctx.step = step_;
  ctx.update = options_.fit_encoder ? Update::EncoderOnly : update_for_step(options_.schedule, step_);
  ctx.instance_noise =
      instance_noise_at(options_.instance_noise, options_.noise_steps, steps_per_epoch(), step_);
  ctx.rank = rank();
  ctx.world_size = world_size();
  ObjectiveOutput r;
  {
    // bf16: every objective's forward passes autocast; set_gradients pauses it for the backward.
    AutocastGuard autocast(precision(), device_);
    r = objective_->compute_gradients(*model_, b, ctx);
  }
  std::vector<torch::Tensor> values{r.d_loss.detach(), r.g_loss.detach()};
  for (const auto& m : r.metrics) values.push_back(m.detach().to(r.d_loss.scalar_type()));
  auto stats =
      torch::stack(values).to(torch::kCPU, torch::kDouble);  // one transfer for all of them
  double sync_seconds = 0;
  auto timed = [&](auto&& f) {
    auto t = std::chrono::steady_clock::now();
    f();
    sync_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (world_size() > 1) {
    // One all-reduce carries every rank's losses: their mean is the global batch's, and a non-finite
    // loss on any rank makes the sum non-finite on all, so every rank stops at the same step.
    timed([&] { sync_->sum(stats); });
    stats.div_(world_size());
  }
  auto s = stats.accessor<double, 1>();
  if (!std::isfinite(s[0]) || !std::isfinite(s[1]))
    throw NonFiniteLoss("training diverged at step " + std::to_string(step_ + 1) +
                        ": the loss is not finite (L_D " + std::to_string(s[0]) + ", L_G " +
                        std::to_string(s[1]) + ")");
  for (int64_t i = 2; i < stats.size(0); ++i)  // the added terms (rec, aux_*) are in the gradients
    if (!std::isfinite(s[i]))
      throw NonFiniteLoss("training diverged at step " + std::to_string(step_ + 1) + ": " +
                          (size_t(i - 2) < metric_names_->size() ? (*metric_names_)[i - 2]
                                                                 : std::string("a metric")) +
                          " is not finite");

  if (world_size() > 1) {  // the mean gradient of the global batch, for the nets that step
    std::vector<torch::Tensor> params;
    if (updates_discriminator(ctx.update)) params = model_->discriminator->parameters();
    if (updates_encoder(ctx.update)) params = concat(std::move(params), model_->encoder->parameters());
    if (updates_decoder(ctx.update)) params = concat(std::move(params), model_->decoder->parameters());
    timed([&] { sync_->average_gradients(params); });
  }
  if (updates_discriminator(ctx.update)) opt_d_->step();
  if (updates_encoder(ctx.update)) opt_g_->step();  // EncoderOnly: only E has gradients
  ++step_;

  StepStats out;
  out.step = step_;
  out.d_loss = s[0];
  out.g_loss = s[1];
  for (int64_t i = 2; i < stats.size(0); ++i) out.metrics.push_back(s[i]);
  out.metric_names = metric_names_;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.sync_seconds = sync_seconds;
  return out;
}

void Trainer::set_fit_encoder(bool on) {
  if (options_.fit_encoder == on) return;
  TrainOptions o = options_;
  o.fit_encoder = on;
  auto objective = make_objective(model_->config, o, device_);  // refuses what cannot be fitted
  if (data_) objective->prepare(data_, o);
  if (on) {  // gradients the game left would otherwise step the decoder and D on every fit step
    for (auto& p : model_->decoder->parameters()) p.mutable_grad().reset();
    for (auto& p : model_->discriminator->parameters()) p.mutable_grad().reset();
  }
  options_ = o;
  objective_ = std::move(objective);
  metric_names_ = std::make_shared<const std::vector<std::string>>(objective_->metric_names());
}

void Trainer::set_learning_rate(double lr) {
  if (!(lr > 0)) throw Error("learning rate must be positive");
  options_.lr = lr;
  for (auto& g : opt_d_->param_groups())
    static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr * options_.d_lr_scale);
  for (auto& g : opt_g_->param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
}

nlohmann::json Trainer::refit_reading_statistics(AliModel& copy, int batches) const {
  if (!model_->config.reads_attributes() || !data_ || data_->size() < 2 || batches < 1) return {};
  BatchNormRefit o;
  o.batch = int(std::min<int64_t>(100, data_->size()));
  o.batches = int(std::max<int64_t>(1, std::min<int64_t>(batches, data_->size() / o.batch)));
  o.seed = uint64_t(step_);
  o.reading_only = true;
  refit_batch_norm(copy, *data_, o);
  return {{"batches", o.batches}, {"batch", o.batch}};
}

void Trainer::save(const std::filesystem::path& path, const nlohmann::json& extra) const {
  torch::serialize::OutputArchive archive;
  // In eval mode D misread real images' attributes with training's statistics (the face model:
  // 0.86 mean accuracy against 0.95 refit); the file gets a refit copy, the model in memory trains
  // on unchanged. The archive refers to the saved model's tensors until save_to.
  std::shared_ptr<AliModel> saved = model_;
  nlohmann::json reading_refit;
  if (model_->config.reads_attributes() && data_) {
    saved = model_->clone_to(device_);
    reading_refit = refit_reading_statistics(*saved, 20);
  }
  save_networks(*saved, archive);
  torch::serialize::OutputArchive od, og;
  opt_d_->save(od);
  opt_g_->save(og);
  archive.write("opt_d", od);
  archive.write("opt_g", og);
  {
    auto gen = cpu_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng_cpu", gen.get_state());
  }
  std::ostringstream os;
  archive.save_to(os);
  CheckpointHeader h;
  h.config = model_->config;
  h.options = options_;
  h.step = step_;
  if (data_) h.class_names = data_->class_names;
  if (!extra.is_null()) h.extra = extra;
  if (!started_from_.is_null()) h.extra["started_from"] = started_from_;
  if (!reading_refit.is_null()) h.extra["reading_statistics_refit"] = reading_refit;
  write_checkpoint_file(path, h, os.str());
}

}  // namespace ali
