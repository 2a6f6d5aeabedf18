// The objective catalog and factory, and what every objective shares: gradient routing, instance
// noise, the update schedule, and the K-way (GALI) discriminator's logits and losses.
#include <cmath>

#include "ali/error.h"
#include "ali/text.h"
#include "objectives_internal.h"

namespace ali {

const std::vector<ObjectiveInfo>& objective_catalog() {
  static const std::vector<ObjectiveInfo> c = {
      {"ali",
       "ALI: D tells (x, E(x)) from (G(z), z) (BiGAN with --bigan, ALICE with --rec-weight)"},
      {"gali4",
       "Generalized ALI, 4-way D over (x, E(x)), (x, E(G(E(x)))), (G(z), z), (G(E(G(z))), z)"},
      {"gali8", "Generalized ALI, 8-way D over two (x, z) pairs from the same cycles"},
      {"gali-pretrain", "GALI-4 with a frozen feature network M(image) feeding D"},
      {"gali-mix", "GALI with patch mixes of x and its reconstruction (trains inpainting)"},
      {"semi", "semi-supervised ALI: K+1-way D trained on --labels labelled images"},
  };
  return c;
}

std::vector<std::string> objective_names() {
  std::vector<std::string> v;
  for (const auto& o : objective_catalog()) v.push_back(o.name);
  return v;
}

void check_objective_name(const std::string& name) {
  auto names = objective_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw Error("unknown objective '" + name + "' (valid: " + joined(names) + ")");
}

bool is_gali(const std::string& objective) { return objective.rfind("gali", 0) == 0; }

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> v = {"simultaneous", "alternate"};
  return v;
}

Update update_for_step(const std::string& schedule, int64_t step) {
  if (schedule == "simultaneous") return Update::Both;
  if (schedule == "alternate")
    return step % 6 == 5 ? Update::GeneratorsOnly : Update::DiscriminatorOnly;
  throw Error("unknown schedule '" + schedule + "' (valid: " + joined(schedule_names()) + ")");
}

namespace {
int outputs_of(const std::string& objective, int classes) {
  if (objective == "ali") return 1;
  if (objective == "gali4" || objective == "gali-pretrain") return 4;
  if (objective == "gali8" || objective == "gali-mix") return 8;
  return classes;  // semi: one logit per class (the generated class's logit is fixed at 0)
}
}  // namespace

ModelConfig configure_objective(ModelConfig c, const std::string& objective,
                                const ObjectiveShape& s) {
  check_objective_name(objective);
  if (objective == "semi") {
    if (s.classes < 2)
      throw Error("objective semi needs a labelled dataset with at least two classes");
    if (c.conditional()) throw Error("objective semi does not train conditional models");
  }
  if (objective == "gali-pretrain" && s.feature_dim <= 0)
    throw Error("objective gali-pretrain needs its feature network M");
  c.objective = objective;
  c.disc_outputs = outputs_of(objective, s.classes);
  c.disc_slots = objective == "gali8" ? 2 : 1;
  c.disc_features = objective == "gali-pretrain" ? s.feature_dim : 0;
  c.spectral_norm = s.spectral_norm < 0 ? is_gali(objective) : s.spectral_norm == 1;
  return c;
}

std::unique_ptr<Objective> make_objective(const ModelConfig& c, const TrainOptions& o,
                                          const torch::Device& device) {
  check_objective_name(c.objective);
  update_for_step(o.schedule, 0);  // validates the name
  if (o.weighting != "uniform" && o.weighting != "released")
    throw Error("unknown loss weighting '" + o.weighting + "' (valid: uniform, released)");
  if (o.weighting == "released" && !is_gali(c.objective))
    throw Error("the released loss weighting applies to the GALI objectives, not " + c.objective);
  if (!(o.instance_noise >= 0) || !std::isfinite(o.instance_noise))
    throw Error("instance noise must be a finite number >= 0");
  if (o.batch < 2)
    throw Error("a batch of " + std::to_string(o.batch) +
                " image: batch normalisation (in every preset's networks) needs at least 2");
  if (o.rec_weight > 0 && c.objective != "ali")
    throw Error("the reconstruction weight applies to objective ali, not " + c.objective);
  if (o.prior_weight > 0 && c.objective != "ali")
    throw Error("the prior-matching weight applies to objective ali, not " + c.objective);
  if (o.prior_weight > 0 && o.batch <= c.nlat)
    throw Error("the prior-matching term fits a Gaussian to each batch's codes: it needs a batch "
                "larger than the latent size (" + std::to_string(c.nlat) + "), not " +
                std::to_string(o.batch));
  if (o.independence_weight > 0 && (c.objective != "ali" || !c.conditional()))
    throw Error("the independence weight applies to objective ali with a conditional model (it "
                "decorrelates the codes from the attributes)");
  if (o.independence_weight > 0 && o.batch < 3)
    throw Error("the independence term correlates each batch's codes with its attributes: it needs "
                "a batch of at least 3, not " + std::to_string(o.batch));
  if (o.contrastive_weight > 0 && c.objective != "ali")
    throw Error("the contrastive weight applies to objective ali, not " + c.objective);
  if (o.contrastive_weight > 0 && o.batch < 2)
    throw Error("the contrastive term tells each image's view from the batch's others: it needs a "
                "batch of at least 2, not " + std::to_string(o.batch));
  if (o.aux_edit_weight > 0 && (c.objective != "ali" || !c.aux_classifier))
    throw Error("the attribute-edit weight needs objective ali and a conditional model whose "
                "discriminator has the auxiliary classifier (--aux-weight)");
  if (o.fit_encoder && c.objective != "ali")
    throw Error("fitting the encoder alone applies to objective ali, not " + c.objective);
  if (o.fit_encoder && !(o.rec_weight > 0))
    throw Error("fitting the encoder alone learns from the reconstruction term: give a "
                "reconstruction weight > 0 (--rec-weight)");
  if (o.fit_encoder && (o.aux_weight > 0 || o.aux_edit_weight > 0))
    throw Error("fitting the encoder alone trains neither D nor the decoder: the auxiliary "
                "classifier's weights (--aux-weight, --aux-edit-weight) have nothing to train");
  if (o.aux_weight > 0 && (c.objective != "ali" || !c.aux_classifier))
    throw Error("the auxiliary classifier's weight needs objective ali and a conditional model "
                "whose discriminator has the classifier");
  const int want_slots = c.objective == "gali8" ? 2 : 1;
  const bool fits = c.disc_slots == want_slots &&
                    (c.objective == "semi" ? c.disc_outputs >= 2
                                           : c.disc_outputs == outputs_of(c.objective, 0)) &&
                    (c.objective == "gali-pretrain") == (c.disc_features > 0);
  if (!fits)
    throw Error("the model's discriminator (" + std::to_string(c.disc_outputs) + " outputs, " +
                std::to_string(c.disc_slots) + " slot(s)) does not fit objective " + c.objective);
  if (c.objective == "ali") return objectives::make_ali(c, o);
  if (c.objective == "gali4") return objectives::make_gali4(c, o);
  if (c.objective == "gali8") return objectives::make_gali8(c, o);
  if (c.objective == "gali-pretrain") return objectives::make_gali_pretrain(c, o, device);
  if (c.objective == "gali-mix") return objectives::make_gali_mix(c, o);
  return objectives::make_semi(c, o);
}

namespace {
std::vector<torch::Tensor> generator_parameters(AliModel& m) {
  auto p = m.encoder->parameters();
  for (auto& q : m.decoder->parameters()) p.push_back(q);
  return p;
}
void assign(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = grads[i];
}
}  // namespace

void set_gradients(AliModel& m, const torch::Tensor& d_loss, const torch::Tensor& g_loss,
                   Update update) {
  const bool d = updates_discriminator(update), g = updates_encoder(update);
  AutocastPause no_autocast;  // the trainer autocasts the forward passes (bf16); never the backward
  // Only the gradients somebody uses: D's from L_D, E's and G's from L_GE, none of the cross terms.
  // EncoderOnly: E's alone (the others keep no gradient, so their optimisers leave them as they are).
  if (d) {
    auto params = m.discriminator->parameters();
    assign(params, torch::autograd::grad({d_loss}, params, {}, /*retain_graph=*/g,
                                         /*create_graph=*/false, /*allow_unused=*/true));
  }
  if (g) {
    auto params = update == Update::EncoderOnly ? m.encoder->parameters() : generator_parameters(m);
    assign(params, torch::autograd::grad({g_loss}, params, {}, false, false, true));
  }
}

torch::Tensor with_instance_noise(const torch::Tensor& x, double std) {
  return std > 0 ? x + std * torch::randn_like(x) : x;
}

double instance_noise_at(double std0, int64_t steps, int64_t steps_per_epoch, int64_t step) {
  if (std0 <= 0) return 0.0;
  if (steps <= 0) return std0;
  if (step >= steps) return 0.0;
  const int64_t per = std::max<int64_t>(1, steps_per_epoch);
  const int64_t epochs = (steps + per - 1) / per;
  return std0 * double(epochs - step / per) / double(epochs);
}

// ---- K-way ----

namespace objectives {

torch::Tensor encode_sample(AliModel& m, const torch::Tensor& x, const torch::Tensor& y) {
  return m.encoder->sample(m.encoder->forward(x, y), m.config.bigan);
}

KWayObjective::KWayObjective(std::string name, int k, const TrainOptions& o)
    : name_(std::move(name)),
      k_(k),
      weights_(o.weighting == "released" ? released_weights(name_, k) : uniform_weights(k)) {}

std::vector<std::string> KWayObjective::metric_names() const {
  std::vector<std::string> v;
  for (int i = 0; i < k_; ++i) v.push_back("p_class" + std::to_string(i));
  return v;
}

ObjectiveOutput KWayObjective::compute_gradients(AliModel& m, const Batch& batch,
                                                 const StepContext& ctx) {
  auto logits = kway_logits(m, tuples(m, batch), batch.y, ctx.instance_noise);
  KWayLosses l = kway_losses(logits, weights_);
  set_gradients(m, l.d_loss, l.g_loss, ctx.update);
  ObjectiveOutput out{l.d_loss, l.g_loss, {}};
  auto p = l.p_true.detach();
  for (int i = 0; i < k_; ++i) out.metrics.push_back(p[i]);
  return out;
}

namespace {
class CycleObjective : public KWayObjective {
 public:
  using Table = std::vector<JointTuple> (*)(const CycleSources&);
  CycleObjective(std::string name, int k, Table table, const TrainOptions& o)
      : KWayObjective(std::move(name), k, o), table_(table) {}

 protected:
  std::vector<JointTuple> tuples(AliModel& m, const Batch& b) override {
    return table_(cycle_sources(m, b.x, b.y));
  }

 private:
  Table table_;
};
}  // namespace

std::unique_ptr<Objective> make_cycle_objective(
    std::string name, int k, std::vector<JointTuple> (*table)(const CycleSources&),
    const TrainOptions& o) {
  return std::make_unique<CycleObjective>(std::move(name), k, table, o);
}

}  // namespace objectives

CycleSources cycle_sources(AliModel& m, const torch::Tensor& x, const torch::Tensor& y) {
  using objectives::encode_sample;
  CycleSources s;
  s.x = x;
  s.z = torch::randn({x.size(0), m.config.nlat}, x.options());
  s.z_hat = encode_sample(m, x, y);
  s.x_r = m.decoder->forward(s.z_hat, y);
  s.z_hat_r = encode_sample(m, s.x_r, y);
  s.x_f = m.decoder->forward(s.z, y);
  s.z_t = encode_sample(m, s.x_f, y);
  s.x_rf = m.decoder->forward(s.z_t, y);
  return s;
}

torch::Tensor kway_logits(AliModel& m, const std::vector<JointTuple>& tuples,
                          const torch::Tensor& y, double instance_noise) {
  TORCH_CHECK(!tuples.empty(), "no tuples");
  auto gather = [&](torch::Tensor JointTuple::*field) {
    std::vector<torch::Tensor> v;
    for (const auto& t : tuples) v.push_back(t.*field);
    return torch::cat(v);
  };
  const bool two = tuples[0].x2.defined();
  std::vector<torch::Tensor> xs{with_instance_noise(gather(&JointTuple::x1), instance_noise)};
  std::vector<torch::Tensor> zs{gather(&JointTuple::z1)};
  if (two) {
    xs.push_back(with_instance_noise(gather(&JointTuple::x2), instance_noise));
    zs.push_back(gather(&JointTuple::z2));
  }
  torch::Tensor f = tuples[0].f.defined() ? gather(&JointTuple::f) : torch::Tensor();
  torch::Tensor ys = y.defined() ? y.repeat({int64_t(tuples.size()), 1}) : y;
  return m.discriminator->forward_slots(xs, zs, ys, f);
}

KWayWeights uniform_weights(int k) {
  KWayWeights w{std::vector<double>(size_t(k), 1.0),
                std::vector<std::vector<double>>(size_t(k), std::vector<double>(size_t(k), 1.0))};
  for (int i = 0; i < k; ++i) w.g[size_t(i)][size_t(i)] = 0.0;
  return w;
}

KWayWeights released_weights(const std::string& objective, int k) {
  KWayWeights w = uniform_weights(k);
  auto scale = [&](double d, double g) {
    for (auto& v : w.d) v *= d;
    for (auto& row : w.g)
      for (auto& v : row) v *= g;
  };
  if (objective == "gali4") {
    // `0.5 * a + b + ...` where 0.5 * (a + b + ...) was meant: only the first term of each sum.
    w.d[0] = 0.5;
    w.g[0][1] = 1.0 / 6.0;
  } else if (objective == "gali-pretrain") {
    scale(0.5, 1.0 / 6.0);
  } else if (objective == "gali-mix") {
    scale(0.25, 1.0 / 28.0);
  }  // gali8: unscaled
  return w;
}

KWayLosses kway_losses(const torch::Tensor& logits, const KWayWeights& w) {
  const int64_t k = logits.size(1);
  TORCH_CHECK(int64_t(w.d.size()) == k && int64_t(w.g.size()) == k, "weights for ", w.d.size(),
              " classes, logits for ", k);
  TORCH_CHECK(logits.size(0) % k == 0, "the logits are not K tuples of one batch");
  auto lsm = torch::log_softmax(logits.view({k, -1, k}), 2);  // tuple i, row, class j
  KWayLosses l;
  l.ce = -lsm.mean(1);  // ce[i][j] = CE(o_i, j)
  l.p_true = lsm.exp().mean(1).diagonal();
  auto opts = torch::TensorOptions().dtype(logits.scalar_type()).device(logits.device());
  auto wd = torch::tensor(w.d, torch::kDouble).to(opts);
  std::vector<double> flat;
  for (const auto& row : w.g) flat.insert(flat.end(), row.begin(), row.end());
  auto wg = torch::tensor(flat, torch::kDouble).view({k, k}).to(opts) * (1 - torch::eye(k, opts));
  l.d_loss = (wd * l.ce.diagonal()).sum();
  l.g_loss = (wg * l.ce).sum();
  return l;
}

}  // namespace ali
