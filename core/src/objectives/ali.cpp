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

GradientResult compute_ali_gradients(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                                     double rec_weight, Update update, double instance_noise,
                                     double aux_weight, double prior_weight) {
  const int64_t n = x.size(0);
  const ModelConfig& c = m.config;
  if (aux_weight > 0)
    TORCH_CHECK(y.defined() && m.discriminator->has_aux_classifier(),
                "the auxiliary weight needs a conditional model whose D has the classifier");
  auto z = torch::randn({n, c.nlat}, x.options());
  auto enc = m.encoder->forward(x, y);
  auto z_hat = m.encoder->sample(enc, c.bigan);
  auto x_tilde = m.decoder->forward(z, y);
  // Real and generated pairs share D's BatchNorm statistics, as the released code; as parts, so
  // that L_GE's backward pass skips D's layers on the real images and on the prior's z.
  torch::Tensor aux;
  auto logits = m.discriminator->forward_parts(
      {with_instance_noise(x, instance_noise), with_instance_noise(x_tilde, instance_noise)},
      {z_hat, z}, y.defined() ? torch::cat({y, y}) : y, aux_weight > 0 ? &aux : nullptr);
  GradientResult r{ali_losses(logits.narrow(0, 0, n), logits.narrow(0, n, n)),
                   logits.narrow(0, 0, n),
                   logits.narrow(0, n, n),
                   {}};
  torch::Tensor d_loss = r.losses.d_loss, g_loss = r.losses.g_loss;
  if (aux_weight > 0) {  // D learns the attributes from real images; G is asked to show them
    r.aux_real = aux_loss(aux.narrow(0, 0, n), y);
    r.aux_fake = aux_loss(aux.narrow(0, n, n), y);
    d_loss = d_loss + aux_weight * r.aux_real;
    g_loss = g_loss + aux_weight * r.aux_fake;
  }
  if (rec_weight > 0) {
    r.rec = (m.decoder->forward(z_hat, y) - x).abs().mean();
    g_loss = g_loss + rec_weight * r.rec;
  }
  if (prior_weight > 0) {
    // The codes E gives should spread like the z G is sampled from. The fit is of the sampled
    // codes, as eval measures, but only the means move: through sigma the cheapest way to
    // decorrelate the codes is more noise, which drowned what mu carries (the fmnist28 probe fell
    // 0.80 -> 0.75 in 1,500 steps at weight 0.1 when sigma took the term's gradient too).
    r.prior_kl = batch_prior_kl(enc.mu + (z_hat - enc.mu).detach());
    g_loss = g_loss + prior_weight * r.prior_kl.to(g_loss.scalar_type());
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
      : rec_weight_(o.rec_weight), aux_weight_(o.aux_weight), prior_weight_(o.prior_weight) {}
  std::string name() const override { return "ali"; }
  // The auxiliary classifier's losses (real images, decoder images) and the batch's prior KL only
  // in runs that train them.
  std::vector<std::string> metric_names() const override {
    std::vector<std::string> names{"p_real", "p_fake", "rec"};
    if (aux_weight_ > 0) names.insert(names.end(), {"aux_real", "aux_fake"});
    if (prior_weight_ > 0) names.push_back("prior_kl");
    return names;
  }
  ObjectiveOutput compute_gradients(AliModel& m, const Batch& b, const StepContext& ctx) override {
    GradientResult r = compute_ali_gradients(m, b.x, b.y, rec_weight_, ctx.update,
                                             ctx.instance_noise, aux_weight_, prior_weight_);
    auto rec = r.rec.defined() ? r.rec.detach() : torch::zeros({}, r.losses.d_loss.options());
    ObjectiveOutput out{
        r.losses.d_loss,
        r.losses.g_loss,
        {torch::sigmoid(r.l_q.detach()).mean(), torch::sigmoid(r.l_p.detach()).mean(), rec}};
    if (aux_weight_ > 0) out.metrics.insert(out.metrics.end(), {r.aux_real.detach(), r.aux_fake.detach()});
    if (prior_weight_ > 0) out.metrics.push_back(r.prior_kl.detach().to(torch::kFloat));
    return out;
  }

 private:
  double rec_weight_, aux_weight_, prior_weight_;
};

}  // namespace

std::unique_ptr<Objective> make_ali(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<AliObjective>(o);
}

}  // namespace objectives
}  // namespace ali
