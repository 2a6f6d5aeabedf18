// ALI (Dumoulin et al. 2017): D tells encoder pairs (x, E(x)) from decoder pairs (G(z), z); BiGAN
// when the encoder is deterministic; ALICE's explicit cycle term with a reconstruction weight.
#include "objectives_internal.h"

namespace ali {

AliLosses ali_losses(const torch::Tensor& l_q, const torch::Tensor& l_p) {
  namespace F = torch::nn::functional;
  return {F::softplus(-l_q).mean() + F::softplus(l_p).mean(),
          F::softplus(l_q).mean() + F::softplus(-l_p).mean()};
}

GradientResult compute_ali_gradients(AliModel& m, const torch::Tensor& x, const torch::Tensor& y,
                                     double rec_weight, Update update, double instance_noise) {
  const int64_t n = x.size(0);
  const ModelConfig& c = m.config;
  auto z = torch::randn({n, c.nlat}, x.options());
  auto enc = m.encoder->forward(x, y);
  auto z_hat = m.encoder->sample(enc, c.bigan);
  auto x_tilde = m.decoder->forward(z, y);
  // Real and generated pairs share D's BatchNorm statistics, as the released code; as parts, so
  // that L_GE's backward pass skips D's layers on the real images and on the prior's z.
  auto logits = m.discriminator->forward_parts(
      {with_instance_noise(x, instance_noise), with_instance_noise(x_tilde, instance_noise)},
      {z_hat, z}, y.defined() ? torch::cat({y, y}) : y);
  GradientResult r{ali_losses(logits.narrow(0, 0, n), logits.narrow(0, n, n)),
                   logits.narrow(0, 0, n),
                   logits.narrow(0, n, n),
                   {}};
  torch::Tensor g_loss = r.losses.g_loss;
  if (rec_weight > 0) {
    r.rec = (m.decoder->forward(z_hat, y) - x).abs().mean();
    g_loss = g_loss + rec_weight * r.rec;
  }
  // Simultaneous update: D from L_D, E and G from L_G, both from the forward pass above.
  set_gradients(m, r.losses.d_loss, g_loss, update);
  return r;
}

namespace objectives {
namespace {

class AliObjective : public Objective {
 public:
  explicit AliObjective(const TrainOptions& o) : rec_weight_(o.rec_weight) {}
  std::string name() const override { return "ali"; }
  std::vector<std::string> metric_names() const override { return {"p_real", "p_fake", "rec"}; }
  ObjectiveOutput compute_gradients(AliModel& m, const Batch& b, const StepContext& ctx) override {
    GradientResult r =
        compute_ali_gradients(m, b.x, b.y, rec_weight_, ctx.update, ctx.instance_noise);
    auto rec = r.rec.defined() ? r.rec.detach() : torch::zeros({}, r.losses.d_loss.options());
    return {r.losses.d_loss,
            r.losses.g_loss,
            {torch::sigmoid(r.l_q.detach()).mean(), torch::sigmoid(r.l_p.detach()).mean(), rec}};
  }

 private:
  double rec_weight_;
};

}  // namespace

std::unique_ptr<Objective> make_ali(const ModelConfig&, const TrainOptions& o) {
  return std::make_unique<AliObjective>(o);
}

}  // namespace objectives
}  // namespace ali
