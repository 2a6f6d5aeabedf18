#include "ali/batch_statistics.h"

#include <string>

#include "ali/error.h"

namespace ali {
namespace {

std::vector<torch::nn::BatchNorm2dImpl*> batch_norms(torch::nn::Module& net) {
  std::vector<torch::nn::BatchNorm2dImpl*> out;
  for (const auto& m : net.modules(/*include_self=*/false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) out.push_back(bn);
  return out;
}

}  // namespace

void refit_batch_norm(AliModel& m, const ImageSet& data, const BatchNormRefit& o) {
  const ModelConfig& c = m.config;
  if (o.batches < 1 || o.batch < 2)
    throw Error("re-estimating BatchNorm statistics needs at least 1 batch of at least 2 images");
  check_images_fit(c, data, "the images", "images");
  const bool reads = c.reads_attributes();
  if (o.reading_only && !reads)
    throw Error("refitting the statistics D reads attributes with needs a model that reads them "
                "(a conditional model trained with --aux-weight)");
  if (data.size() < o.batch)
    throw Error("the data has " + std::to_string(data.size()) + " images, fewer than one batch of " +
                std::to_string(o.batch));
  torch::NoGradGuard ng;
  struct Saved {
    torch::nn::BatchNorm2dImpl* bn;
    c10::optional<double> momentum;
    torch::Tensor mean, var, count;
  };
  std::vector<Saved> saved;
  // D's statistics only where it reads attributes (its auxiliary classifier, read_attributes): its
  // BatchNorm modules alone in training mode, so its dropout stays off as at inference.
  std::vector<torch::nn::Module*> nets;
  if (!o.reading_only) nets = {m.encoder.get(), m.decoder.get()};
  if (reads) nets.push_back(m.discriminator.get());
  for (torch::nn::Module* net : nets)
    for (auto* bn : batch_norms(*net)) {
      saved.push_back({bn, bn->options.momentum(), bn->running_mean.clone(), bn->running_var.clone(),
                       bn->num_batches_tracked.clone()});
      bn->running_mean.zero_();
      bn->running_var.fill_(1);
      bn->num_batches_tracked.zero_();
      bn->options.momentum(c10::nullopt);  // the cumulative average: every batch alike
    }
  const auto device = m.device();
  m.train(false);
  m.encoder->train(!o.reading_only);
  m.decoder->train(!o.reading_only);
  if (reads)
    for (auto* bn : batch_norms(*m.discriminator)) bn->train(true);
  auto restore = [](Saved& s) {
    s.bn->running_mean.copy_(s.mean);
    s.bn->running_var.copy_(s.var);
    s.bn->num_batches_tracked.copy_(s.count);
  };
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  try {
    const int64_t per_pass = data.size() / o.batch;
    torch::Tensor order;
    for (int b = 0; b < o.batches; ++b) {
      // Images without replacement within each pass over the data.
      if (b % per_pass == 0) order = epoch_permutation(data.size(), o.seed, b / per_pass);
      auto index = order.narrow(0, (b % per_pass) * o.batch, o.batch);
      auto x = data.float_images(index).to(device);
      torch::Tensor y;
      if (c.conditional()) y = data.attributes.index_select(0, index).to(device, torch::kFloat);
      if (!o.reading_only) {
        m.encoder->forward(x, y);
        m.decoder->forward(torch::randn({o.batch, c.nlat}, gen).to(device), y);
      }
      if (reads) m.discriminator->classify(x);  // the image branch, on real images
    }
  } catch (...) {  // the statistics as they were
    for (auto& s : saved) {
      s.bn->options.momentum(s.momentum);
      restore(s);
    }
    m.train(false);
    throw;
  }
  for (auto& s : saved) {
    s.bn->options.momentum(s.momentum);
    if (s.bn->num_batches_tracked.item<int64_t>() == 0) restore(s);  // D's joint part: not run
  }
  m.train(false);
}

}  // namespace ali
