// GALI-pretrain: GALI-4 whose D also sees y = M(image) from a frozen feature network M. Gradients
// flow through M into the decoder; M itself never changes (no gradient, evaluation mode).
#include <torch/script.h>

#include <filesystem>

#include "ali/error.h"
#include "ali/evaluation.h"
#include "objectives_internal.h"

namespace ali {

FeatureNet load_feature_net(const std::string& path, int channels, int image_size,
                            const torch::Device& device) {
  if (!std::filesystem::exists(path)) throw Error("feature network " + path + " does not exist");
  FeatureNet net;
  try {  // the evaluation classifier `ali eval` trains and caches
    double accuracy = 0;
    auto c = load_classifier(path, &accuracy);
    if (c->channels != channels || c->image_size != image_size)
      throw Error("feature network " + path + " takes " + std::to_string(c->channels) + "x" +
                  std::to_string(c->image_size) + " images, the model " + std::to_string(channels) +
                  "x" + std::to_string(image_size));
    c->to(device);
    c->eval();
    for (auto& p : c->parameters()) p.requires_grad_(false);
    net.forward = [c](const torch::Tensor& x) mutable { return c->features(x); };
    net.description = "evaluation classifier " + path;
  } catch (const Error& classifier_error) {
    if (std::string(classifier_error.what()).find(" takes ") != std::string::npos) throw;
    try {  // any TorchScript module
      auto mod = std::make_shared<torch::jit::Module>(torch::jit::load(path, device));
      mod->eval();
      for (auto p : mod->parameters()) p.requires_grad_(false);
      net.forward = [mod](const torch::Tensor& x) {
        return mod->forward({x}).toTensor().flatten(1);
      };
      net.description = "TorchScript module " + path;
    } catch (const c10::Error& e) {
      throw Error(path + " is neither an evaluation classifier nor a TorchScript module (" +
                  e.what_without_backtrace() + ")");
    }
  }
  try {
    torch::NoGradGuard ng;
    net.dim = int(net.forward(torch::zeros({2, channels, image_size, image_size}, device)).size(1));
  } catch (const c10::Error& e) {
    throw Error("feature network " + path + " does not take " + std::to_string(channels) + "x" +
                std::to_string(image_size) + " images (" + e.what_without_backtrace() + ")");
  }
  return net;
}

namespace objectives {
namespace {

class GaliPretrain : public KWayObjective {
 public:
  GaliPretrain(const ModelConfig& c, const TrainOptions& o, const torch::Device& device)
      : KWayObjective("gali-pretrain", 4, o) {
    if (o.feature_net.empty())
      throw Error("objective gali-pretrain needs its feature network M (--feature-net)");
    net_ = load_feature_net(o.feature_net, c.image_channels, c.image_size, device);
    if (net_.dim != c.disc_features)
      throw Error("feature network " + o.feature_net + " gives " + std::to_string(net_.dim) +
                  " features; this model's D takes " + std::to_string(c.disc_features));
  }

 protected:
  std::vector<JointTuple> tuples(AliModel& m, const Batch& b) override {
    CycleSources s = cycle_sources(m, b.x, b.y);
    auto t = gali4_tuples(s);
    auto m_f = net_.forward(s.x_f);
    t[0].f = net_.forward(s.x);
    t[1].f = net_.forward(s.x_r);
    t[2].f = m_f;
    t[3].f = m_f;  // M(G(z)) for class 3 too, as released
    return t;
  }

 private:
  FeatureNet net_;
};

}  // namespace

std::unique_ptr<Objective> make_gali_pretrain(const ModelConfig& c, const TrainOptions& o,
                                              const torch::Device& device) {
  return std::make_unique<GaliPretrain>(c, o, device);
}

}  // namespace objectives
}  // namespace ali
