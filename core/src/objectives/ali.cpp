// ALI (Dumoulin et al. 2017): D tells encoder pairs (x, E(x)) from decoder pairs (G(z), z); BiGAN
// when the encoder is deterministic; ALICE's explicit cycle term with a reconstruction weight.
#include "objectives_internal.h"

namespace ali {

AliLosses ali_losses(const torch::Tensor& l_q, const torch::Tensor& l_p) {
  namespace F = torch::nn::functional;
  return {F::softplus(-l_q).mean() + F::softplus(l_p).mean(),
          F::softplus(l_q).mean() + F::softplus(-l_p).mean()};
}

torch::Tensor aux_loss(const torch::Tensor& logits, const torch::Tensor& y) {
  TORCH_CHECK(logits.dim() == 2 && logits.sizes() == y.sizes(),
              "the auxiliary classifier's logits and the attributes differ in shape");
  namespace F = torch::nn::functional;
  return F::binary_cross_entropy_with_logits(
             logits, y.to(logits.dtype()),
             F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum)) /
         double(std::max<int64_t>(1, logits.size(0)));
}

torch::Tensor batch_prior_kl(const torch::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) > z.size(1),
              "a Gaussian fit to a batch of codes needs more rows than dimensions (got ", z.size(0),
              " x ", z.size(1), ")");
  const int64_t n = z.size(0), d = z.size(1);
  auto zd = z.to(torch::kDouble);
  auto mean = zd.mean(0);
  auto centred = zd - mean;
  auto cov = torch::mm(centred.t(), centred) / double(n - 1) + 1e-6 * torch::eye(d, zd.options());
  // logdet, not a Cholesky factor: codes that are not finite give a NaN the trainer stops on
  // rather than an exception from the factorisation.
  return 0.5 * (cov.trace() + mean.pow(2).sum() - double(d) - torch::logdet(cov));
}

namespace {
// code_attribute_dependence's terms: r^2 - 1/(n - 1) for every code dimension (rows) and every
// attribute that varies in the batch (columns); empty when none varies.
torch::Tensor excess_squared_correlations(const torch::Tensor& codes, const torch::Tensor& y) {
  TORCH_CHECK(codes.dim() == 2 && y.dim() == 2 && codes.size(0) == y.size(0) && codes.size(0) > 2,
              "code/attribute dependence needs n x d codes and n x k attributes with n > 2 (got ",
              codes.sizes(), " and ", y.sizes(), ")");
  const int64_t n = codes.size(0);
  auto c = codes.to(torch::kDouble);
  c = c - c.mean(0);
  auto a = y.to(torch::kDouble);
  a = a - a.mean(0);
  auto a_ss = a.pow(2).sum(0);
  auto varying = (a_ss > 1e-9).nonzero().squeeze(1);
  if (varying.numel() == 0) return c.narrow(1, 0, 0) * 0;  // nothing to tell; still a graph
  a = a.index_select(1, varying);
  // corr(c_j, a_k) = <c_j, a_k> / (|c_j| |a_k|); a code dimension that is constant counts as 0.
  auto r = torch::mm(c.t(), a) * (c.pow(2).sum(0) + 1e-12).rsqrt().unsqueeze(1) *
           a_ss.index_select(0, varying).rsqrt().unsqueeze(0);
  return r.pow(2) - 1.0 / double(n - 1);
}
}  // namespace

torch::Tensor code_attribute_dependence(const torch::Tensor& codes, const torch::Tensor& y) {
  return excess_squared_correlations(codes, y).sum();
}

torch::Tensor view_of(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "view_of takes B x C x H x W images (got ", x.sizes(), ")");
  namespace F = torch::nn::functional;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t s = std::max<int64_t>(1, h / 14);
  auto padded = F::pad(x, F::PadFuncOptions({s, s, s, s}).mode(torch::kReplicate));
  // Draws on the CPU whatever the device: a few numbers per image, read here.
  auto draws = torch::rand({n, 6}, torch::kDouble);
  auto d = draws.accessor<double, 2>();
  const int64_t lo = std::max<int64_t>(1, h / 5), hi = std::max(lo, h / 3);
  std::vector<torch::Tensor> rows;
  rows.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    auto pick = [&](int c, int64_t count) { return std::min(count - 1, int64_t(d[i][c] * double(count))); };
    auto v = padded[i].narrow(1, pick(0, 2 * s + 1), h).narrow(2, pick(1, 2 * s + 1), w);
    if (d[i][2] < 0.5) {
      const int64_t side = lo + pick(3, hi - lo + 1);
      v = v.clone();
      v.narrow(1, pick(4, h - side + 1), side).narrow(2, pick(5, w - side + 1), side).fill_(v.mean());
    }
    rows.push_back(v);
  }
  return torch::stack(rows);
}

torch::Tensor view_contrastive_loss(const torch::Tensor& a, const torch::Tensor& b, double temperature) {
  TORCH_CHECK(a.dim() == 2 && a.sizes() == b.sizes() && a.size(0) >= 2,
              "the contrastive loss takes two n x d views with n >= 2 (got ", a.sizes(), " and ",
              b.sizes(), ")");
  TORCH_CHECK(temperature > 0, "the contrastive temperature must be > 0");
  namespace F = torch::nn::functional;
  const int64_t n = a.size(0);
  auto u = F::normalize(torch::cat({a, b}).to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  auto sim = torch::mm(u, u.t()) / temperature;
  sim = sim.masked_fill(torch::eye(2 * n, sim.options().dtype(torch::kBool)), -1e9);
  auto idx = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(a.device()));
  return F::cross_entropy(sim, torch::cat({idx + n, idx}));
}

torch::Tensor edited_attributes(const torch::Tensor& y) {
  TORCH_CHECK(y.dim() == 2 && y.size(1) >= 1, "edited_attributes takes n x k attributes (got ",
              y.sizes(), ")");
  const int64_t n = y.size(0), k = y.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(y.device());
  auto which = torch::randint(k, {n}, opts);
  auto one_hot = y.sum(1).eq(1).all().item<bool>() && y.eq(0).logical_or(y.eq(1)).all().item<bool>();
  if (one_hot) return torch::one_hot(which, k).to(y.scalar_type());
  auto value = torch::randint(2, {n}, opts).to(y.scalar_type());
  return y.clone().scatter_(1, which.unsqueeze(1), value.unsqueeze(1));
}

namespace {
// ALICE's explicit cycle term, mean|x - G(z_hat)|: the game's and the encoder fit's.
torch::Tensor reconstruction_error(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                                   const torch::Tensor& z_hat) {
  return (m.decoder->forward(z_hat, y) - x).abs().mean();
}

// The terms only the encoder learns from (prior, independence, contrastive), by their weights,
// summed (a 0-d zero when none is weighted); each term's value is kept in r.
torch::Tensor encoder_terms(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                            const EncoderOutput& enc, const torch::Tensor& z_hat,
                            const AliTerms& terms, GradientResult& r) {
  auto loss = torch::zeros({}, enc.mu.options().dtype(torch::kFloat));
  if (terms.prior > 0) {
    // The codes E gives should spread like the z G is sampled from. The fit is of the sampled
    // codes, as eval measures, but only the means move: through sigma the cheapest way to
    // decorrelate the codes is more noise, which drowned what mu carries (the fmnist28 probe fell
    // 0.80 -> 0.75 in 1,500 steps at weight 0.1 when sigma took the term's gradient too).
    r.prior_kl = batch_prior_kl(enc.mu + (z_hat - enc.mu).detach());
    loss = loss + terms.prior * r.prior_kl.to(torch::kFloat);
  }
  if (terms.independence > 0) {
    // G draws z independently of y; codes E gives that tell y are codes G meets with the wrong
    // attributes (the face model's mu read Male linearly at 0.96, and asked for Male with a prior
    // z the decoder drew a man only 61 % of the time). The means carry what E tells; they move.
    // Only correlations above what chance gives are pushed down: nothing is gained below chance.
    // The encoder (which sees y, and the batch through BatchNorm) still drifts there: on the face
    // model at weight 0.2 the logged estimate's 50-step mean was -2.1 by step 500 with this
    // (-2.9 with the whole sum as the loss) and rec rose 0.057 -> 0.072 (0.076 with the sum).
    auto excess = excess_squared_correlations(enc.mu, y);
    r.dependence = excess.sum();
    loss = loss + terms.independence * excess.clamp_min(0).sum().to(torch::kFloat);
  }
  if (terms.contrastive > 0) {
    // The view's codes are the encoder's too: both sides move.
    r.contrastive = view_contrastive_loss(enc.mu, m.encoder->forward(view_of(x), y).mu);
    loss = loss + terms.contrastive * r.contrastive.to(torch::kFloat);
  }
  return loss;
}

// TrainOptions::fit_encoder's step: the reconstruction term and encoder_terms, through the decoder
// as inference runs it (eval mode: its BatchNorm statistics are used, not changed), E's gradients
// only. D is not run; its logits are left undefined.
GradientResult compute_encoder_fit_gradients(AliModel& m, const torch::Tensor& x,
                                             const torch::Tensor& y, const AliTerms& terms) {
  TORCH_CHECK(terms.rec > 0, "fitting the encoder alone needs a reconstruction weight");
  struct DecoderAsInference {  // and as it was afterwards, also when a pass throws
    DecoderImpl& d;
    const bool training = d.is_training();
    ~DecoderAsInference() { d.train(training); }
  } as_inference{*m.decoder};
  m.decoder->eval();
  auto enc = m.encoder->forward(x, y);
  auto z_hat = m.encoder->sample(enc, m.config.bigan);
  GradientResult r;
  r.rec = reconstruction_error(m, x, y, z_hat);
  auto g_loss = terms.rec * r.rec.to(torch::kFloat) + encoder_terms(m, x, y, enc, z_hat, terms, r);
  r.losses = {torch::zeros_like(g_loss), g_loss};
  set_gradients(m, r.losses.d_loss, g_loss, Update::EncoderOnly);
  return r;
}
}  // namespace

GradientResult compute_ali_gradients(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                                     const AliTerms& terms, Update update, double instance_noise) {
  TORCH_CHECK(update != Update::EncoderOnly,
              "the ALI game updates D or the decoder; fitting the encoder alone is its own step");
  const int64_t n = x.size(0);
  const ModelConfig& c = m.config;
  if (terms.aux > 0)
    TORCH_CHECK(y.defined() && m.discriminator->has_aux_classifier(),
                "the auxiliary weight needs a conditional model whose D has the classifier");
  if (terms.independence > 0)
    TORCH_CHECK(y.defined(), "the independence weight needs a conditional model");
  if (terms.aux_edit > 0)
    TORCH_CHECK(y.defined() && m.discriminator->has_aux_classifier(),
                "the attribute-edit weight needs a conditional model whose D has the classifier");
  auto z = torch::randn({n, c.nlat}, x.options());
  auto enc = m.encoder->forward(x, y);
  auto z_hat = m.encoder->sample(enc, c.bigan);
  auto x_tilde = m.decoder->forward(z, y);
  // Real and generated pairs share D's BatchNorm statistics, as the released code; as parts, so
  // that L_GE's backward pass skips D's layers on the real images and on the prior's z.
  torch::Tensor aux;
  auto logits = m.discriminator->forward_parts(
      {with_instance_noise(x, instance_noise), with_instance_noise(x_tilde, instance_noise)},
      {z_hat, z}, y.defined() ? torch::cat({y, y}) : y, terms.aux > 0 ? &aux : nullptr);
  GradientResult r;
  r.l_q = logits.narrow(0, 0, n);
  r.l_p = logits.narrow(0, n, n);
  r.losses = ali_losses(r.l_q, r.l_p);
  torch::Tensor d_loss = r.losses.d_loss, g_loss = r.losses.g_loss;
  if (terms.aux > 0) {  // D learns the attributes from real images; G is asked to show them
    r.aux_real = aux_loss(aux.narrow(0, 0, n), y);
    r.aux_fake = aux_loss(aux.narrow(0, n, n), y);
    d_loss = d_loss + terms.aux * r.aux_real;
    g_loss = g_loss + terms.aux * r.aux_fake;
  }
  if (terms.rec > 0) {
    r.rec = reconstruction_error(m, x, y, z_hat);
    g_loss = g_loss + terms.rec * r.rec;
  }
  g_loss = g_loss + encoder_terms(m, x, y, enc, z_hat, terms, r).to(g_loss.scalar_type());
  if (terms.aux_edit > 0) {
    // Edits ask for combinations the data may never hold (a man wearing lipstick): D cannot judge
    // such pairs against real ones, so only its classifier, trained on real images, reads them.
    auto y_edit = edited_attributes(y);
    r.aux_edit = aux_loss(m.discriminator->classify(m.decoder->forward(z, y_edit)), y_edit);
    g_loss = g_loss + terms.aux_edit * r.aux_edit;
  }
  // Simultaneous update: D from L_D, E and G from L_G, both from the forward pass above.
  set_gradients(m, d_loss, g_loss, update);
  return r;
}

namespace objectives {
namespace {

class AliObjective : public Objective {
 public:
  explicit AliObjective(const TrainOptions& o)
      : terms_{.rec = o.rec_weight,
               .aux = o.aux_weight,
               .prior = o.prior_weight,
               .independence = o.independence_weight,
               .contrastive = o.contrastive_weight,
               .aux_edit = o.aux_edit_weight},
        fit_encoder_(o.fit_encoder) {}
  std::string name() const override { return "ali"; }
  // The auxiliary classifier's losses (real images, decoder images), the batch's prior KL and its
  // code/attribute dependence only in runs that train them; fitting the encoder alone runs no D, so
  // no p_real, p_fake.
  std::vector<std::string> metric_names() const override {
    std::vector<std::string> names = fit_encoder_ ? std::vector<std::string>{"rec"}
                                                  : std::vector<std::string>{"p_real", "p_fake", "rec"};
    if (terms_.aux > 0) names.insert(names.end(), {"aux_real", "aux_fake"});
    if (terms_.prior > 0) names.push_back("prior_kl");
    if (terms_.independence > 0) names.push_back("dependence");
    if (terms_.contrastive > 0) names.push_back("contrastive");
    if (terms_.aux_edit > 0) names.push_back("aux_edit");
    return names;
  }
  ObjectiveOutput compute_gradients(AliModel& m, const Batch& b, const StepContext& ctx) override {
    GradientResult r = fit_encoder_ ? compute_encoder_fit_gradients(m, b.x, b.y, terms_)
                                    : compute_ali_gradients(m, b.x, b.y, terms_, ctx.update,
                                                            ctx.instance_noise);
    auto rec = r.rec.defined() ? r.rec.detach() : torch::zeros({}, r.losses.d_loss.options());
    ObjectiveOutput out{r.losses.d_loss, r.losses.g_loss, {rec}};
    if (!fit_encoder_)
      out.metrics = {torch::sigmoid(r.l_q.detach()).mean(), torch::sigmoid(r.l_p.detach()).mean(), rec};
    if (terms_.aux > 0) out.metrics.insert(out.metrics.end(), {r.aux_real.detach(), r.aux_fake.detach()});
    if (terms_.prior > 0) out.metrics.push_back(r.prior_kl.detach().to(torch::kFloat));
    if (terms_.independence > 0) out.metrics.push_back(r.dependence.detach().to(torch::kFloat));
    if (terms_.contrastive > 0) out.metrics.push_back(r.contrastive.detach().to(torch::kFloat));
    if (terms_.aux_edit > 0) out.metrics.push_back(r.aux_edit.detach().to(torch::kFloat));
    return out;
  }

 private:
  AliTerms terms_;
  bool fit_encoder_;
};

}  // namespace

std::unique_ptr<Objective> make_ali(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<AliObjective>(o);
}

}  // namespace objectives
}  // namespace ali
