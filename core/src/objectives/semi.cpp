// Semi-supervised ALI (the ALI paper, following Salimans et al. 2016): D outputs K class logits,
// the "generated" class's logit fixed at 0, so P(real) = sigmoid(logsumexp(l)). Labelled encoder
// pairs learn their class, unlabelled encoder pairs count as real, decoder pairs as generated.
#include <ATen/CPUGeneratorImpl.h>

#include "ali/error.h"
#include "ali/evaluation.h"
#include "objectives_internal.h"

namespace ali {
namespace F = torch::nn::functional;

SemiLosses semi_losses(const torch::Tensor& l_lab, const torch::Tensor& y,
                       const torch::Tensor& l_unl, const torch::Tensor& l_gen) {
  auto lse_lab = torch::logsumexp(l_lab, 1), lse_unl = torch::logsumexp(l_unl, 1),
       lse_gen = torch::logsumexp(l_gen, 1);
  SemiLosses s;
  s.lab = (lse_lab - l_lab.gather(1, y.view({-1, 1})).squeeze(1)).mean();
  s.unl = 0.5 * (F::softplus(lse_unl) - lse_unl).mean() + 0.5 * F::softplus(lse_gen).mean();
  s.d_loss = s.lab + s.unl;
  // Not published for ALI: the non-saturating analogue (encoder pairs toward generated, decoder
  // pairs toward real).
  s.g_loss = F::softplus(lse_unl).mean() + F::softplus(-lse_gen).mean();
  return s;
}

torch::Tensor semi_labelled_batch(const torch::Tensor& rows, int batch, uint64_t seed, int64_t step,
                                  int rank, int world_size) {
  const int64_t labelled = rows.size(0);
  // Fewer labelled images than ranks: every rank takes the whole (tiny) set's stream.
  const int world = labelled >= world_size ? world_size : 1;
  const int lb = int(std::min<int64_t>(batch, labelled / world));
  return rows.index_select(0, batch_indices(labelled, lb, seed ^ 0x1abe1ull, step, world > 1 ? rank : 0, world));
}

torch::Tensor semi_labelled_rows(const torch::Tensor& labels, int classes, int64_t count,
                                 uint64_t seed) {
  if (!labels.defined()) throw Error("objective semi needs a labelled dataset");
  if (count > labels.size(0))
    throw Error("--labels " + std::to_string(count) + " is above the " +
                std::to_string(labels.size(0)) + " labelled training images");
  if (count < classes)
    throw Error("--labels " + std::to_string(count) + " is below the " + std::to_string(classes) +
                " classes: semi needs at least one labelled image per class");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x5e111ab5ull);
  std::vector<torch::Tensor> rows;
  for (int c = 0; c < classes; ++c) {
    const int64_t want = count / classes + (c < count % classes ? 1 : 0);
    auto of_class = labels.eq(c).nonzero().flatten();
    if (of_class.size(0) < want)
      throw Error("class " + std::to_string(c) + " has " + std::to_string(of_class.size(0)) +
                  " training images, fewer than the " + std::to_string(want) +
                  " labelled ones asked for");
    rows.push_back(
        of_class.index_select(0, torch::randperm(of_class.size(0), gen).narrow(0, 0, want)));
  }
  return std::get<0>(torch::cat(rows).sort());
}

torch::Tensor semi_classify(AliModel& m, const torch::Tensor& images) {
  torch::InferenceMode guard;
  m.train(false);
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += 500) {
    auto x = images.slice(0, i, std::min(images.size(0), i + 500)).to(m.device());
    auto logits = m.discriminator->forward_slots({x}, {m.encoder->forward(x).mu});
    parts.push_back(logits.argmax(1).cpu());
  }
  return torch::cat(parts);
}

nlohmann::json evaluate_semi(AliModel& m, const TrainOptions& o, const ImageSet& train,
                             const ImageSet& test, int64_t test_limit) {
  if (!train.labels.defined() || !test.labels.defined())
    throw Error("evaluation needs a labelled dataset");
  const int classes = m.config.disc_outputs;
  if (int(train.class_names.size()) != classes)
    throw Error("this semi model has " + std::to_string(classes) + " classes, the data " +
                std::to_string(train.class_names.size()));
  const int64_t n = test_limit > 0 ? std::min(test_limit, test.size()) : test.size();
  auto test_rows = torch::arange(n, torch::kLong);
  auto test_x = test.float_images(test_rows);
  auto test_y = test.labels.narrow(0, 0, n);
  auto d_acc = semi_classify(m, test_x).eq(test_y).to(torch::kDouble).mean().item<double>();
  auto rows = semi_labelled_rows(train.labels, classes, o.labels, o.seed);
  double probe = logistic_regression_accuracy(
      encode_all(m, train, rows, false), train.labels.index_select(0, rows),
      encode_all(m, test, test_rows, false), test_y, classes);
  return {{"labels", o.labels},
          {"discriminator_accuracy", d_acc},
          {"linear_probe_same_labels_accuracy", probe},
          {"test_images", n}};
}

namespace objectives {
namespace {

class Semi : public Objective {
 public:
  Semi(const ModelConfig& c, const TrainOptions& o) : classes_(c.disc_outputs), options_(o) {}
  std::string name() const override { return "semi"; }
  std::vector<std::string> metric_names() const override {
    return {"loss_lab", "acc_lab", "p_real_unl", "p_real_gen"};
  }

  void prepare(std::shared_ptr<const ImageSet> data, const TrainOptions& o) override {
    if (!data->labels.defined())
      throw Error("objective semi needs a labelled dataset; " + data->name + " has no labels");
    if (int(data->class_names.size()) != classes_)
      throw Error("this semi model has " + std::to_string(classes_) + " classes; " + data->name +
                  " has " + std::to_string(data->class_names.size()));
    labelled_ = semi_labelled_rows(data->labels, classes_, o.labels, o.seed);
    data_ = std::move(data);
  }

  ObjectiveOutput compute_gradients(AliModel& m, const Batch& b, const StepContext& ctx) override {
    TORCH_CHECK(data_, "semi: no data prepared");
    const auto& x_u = b.x;
    const int64_t n = x_u.size(0);
    // A labelled batch beside every unlabelled one, each rank its own slice.
    auto idx = semi_labelled_batch(labelled_, options_.batch, options_.seed, ctx.step, ctx.rank, ctx.world_size);
    const int64_t lb = idx.size(0);
    auto x_l = data_->float_images(idx).to(x_u.device());
    auto y_l = data_->labels.index_select(0, idx).to(x_u.device());
    auto z_l = encode_sample(m, x_l, {});
    auto z_u = encode_sample(m, x_u, {});
    auto z = torch::randn({n, m.config.nlat}, x_u.options());
    auto x_f = m.decoder->forward(z);
    auto logits = m.discriminator->forward_slots(
        {with_instance_noise(torch::cat({x_l, x_u, x_f}), ctx.instance_noise)},
        {torch::cat({z_l, z_u, z})});
    auto l_lab = logits.narrow(0, 0, lb), l_unl = logits.narrow(0, lb, n),
         l_gen = logits.narrow(0, lb + n, n);
    SemiLosses s = semi_losses(l_lab, y_l, l_unl, l_gen);
    set_gradients(m, s.d_loss, s.g_loss, ctx.update);
    auto acc = l_lab.detach().argmax(1).eq(y_l).to(s.d_loss.scalar_type()).mean();
    return {s.d_loss,
            s.g_loss,
            {s.lab.detach(), acc, torch::sigmoid(torch::logsumexp(l_unl.detach(), 1)).mean(),
             torch::sigmoid(torch::logsumexp(l_gen.detach(), 1)).mean()}};
  }

 private:
  int classes_;
  TrainOptions options_;
  std::shared_ptr<const ImageSet> data_;
  torch::Tensor labelled_;
};

}  // namespace

std::unique_ptr<Objective> make_semi(const ModelConfig& c, const TrainOptions& o) {
  if (o.labels <= 0) throw Error("objective semi needs --labels N (labelled training images)");
  return std::make_unique<Semi>(c, o);
}

}  // namespace objectives
}  // namespace ali
