// A user's objective choice applied to a new run (shared by `ali train` and the explorer).
#include <filesystem>

#include "ali/error.h"
#include "ali/evaluation.h"
#include "ali/objective.h"

namespace fs = std::filesystem;

namespace ali {

ModelConfig apply_objective_choice(ModelConfig c, TrainOptions& o, const ObjectiveChoice& a,
                                   const ImageSet& data, const std::string& data_spec,
                                   int64_t planned_steps, const torch::Device& device,
                                   const std::function<void(const std::string&)>& note) {
  const std::string objective = a.objective.empty() ? "ali" : a.objective;
  check_objective_name(objective);
  ObjectiveShape shape;
  if (data.labels.defined()) shape.classes = int(data.class_names.size());
  if (objective == "semi") {
    if (!data.labels.defined())
      throw Error("objective semi needs a labelled dataset; " + data.name + " has no labels");
    if (a.labels <= 0) throw Error("objective semi needs --labels N (labelled training images)");
    if (a.labels > data.size())
      throw Error("--labels " + std::to_string(a.labels) + " is above the " +
                  std::to_string(data.size()) + " labelled training images of " + data.name);
  } else if (a.labels > 0) {
    throw Error("--labels applies to --objective semi");
  }
  if (objective == "gali-pretrain") {
    fs::path path = a.feature_net.empty()
                        ? ensure_default_classifier(data_spec, data, c.image_channels, c.image_size, note)
                        : fs::path(a.feature_net);
    o.feature_net = fs::absolute(path).string();
    shape.feature_dim = load_feature_net(o.feature_net, c.image_channels, c.image_size, device).dim;
  } else if (!a.feature_net.empty()) {
    throw Error("--feature-net applies to --objective gali-pretrain");
  }
  if (a.spectral_norm != "auto" && a.spectral_norm != "on" && a.spectral_norm != "off")
    throw Error("spectral norm must be auto, on or off, not '" + a.spectral_norm + "'");
  shape.spectral_norm = a.spectral_norm == "auto" ? -1 : a.spectral_norm == "on" ? 1 : 0;
  o.labels = a.labels;
  o.weighting = a.weighting;
  o.schedule = a.schedule;
  o.instance_noise = a.instance_noise >= 0 ? a.instance_noise : (is_gali(objective) ? 0.1 : 0.0);
  o.noise_steps = planned_steps;
  if (o.rec_weight > 0 && objective != "ali")
    throw Error("--rec-weight applies to --objective ali (GALI gets its cycle feedback from D)");
  if (o.aux_weight > 0 && objective != "ali")
    throw Error("--aux-weight applies to --objective ali");
  if (o.aux_weight > 0 && !c.conditional())
    throw Error("--aux-weight trains D to read the conditioning attributes: it needs --conditional");
  c.aux_classifier = o.aux_weight > 0;
  return configure_objective(c, objective, shape);
}

void check_resume_objective(const ObjectiveChoice& a, const ModelConfig& c) {
  if (!a.objective.empty() && a.objective != c.objective)
    throw Error("this run was trained with objective " + c.objective + "; it cannot resume as " +
                a.objective + " (start a new run with another --out)");
}

}  // namespace ali
