#include "data_cache.h"

#include <filesystem>

#include "app_state.h"

namespace ali::explorer {

namespace {
std::shared_ptr<const ImageSet> load_test_split(const std::string& spec, int size, int channels,
                                                bool cond) {
  auto set = load_dataset(spec, "test", size, channels);
  if (cond) set = with_condition_attributes(std::move(set));
  return std::make_shared<const ImageSet>(std::move(set));
}
}  // namespace

DataCache::DataCache(AppState& app) : app_(app) {
  dataset = !app.options.data.empty() ? app.options.data : app.settings.dataset;
}

std::string DataCache::key(const std::string& spec, const ModelConfig& c, bool cond) {
  return spec + "/" + std::to_string(c.image_size) + "/" + std::to_string(c.image_channels) +
         (cond ? "/cond" : "");
}

std::string DataCache::own_dataset(const ModelConfig& c) const {
  std::string named = c.dataset.empty() ? "fashion-mnist" : c.dataset;
  // A dataset named but not here (a shipped model's "celeba") falls back to the sample that ships
  // beside it (assets/celeba-sample), if any.
  std::error_code ec;
  if (named != "fashion-mnist" && !std::filesystem::exists(named, ec))
    if (auto sample = find_shipped_sample(app_.options.executable_dir, named); !sample.empty())
      return sample.string();
  return named;
}

void DataCache::model_adopted() {
  const ModelConfig& c = app_.config();
  std::string named = c.dataset.empty() ? "fashion-mnist" : c.dataset;
  std::string own = own_dataset(c);
  std::error_code ec;
  const bool own_here = own == "fashion-mnist" || std::filesystem::exists(own, ec);
  if (!app_.options.data.empty())
    dataset = app_.options.data;
  else if (dataset.empty() || (!model_dataset.empty() && named != model_dataset))
    dataset = own;  // a model of another dataset (the face model after a Fashion-MNIST one)
  else if (model_dataset.empty() && own_here)
    dataset = own;  // the first model: its own data over the one the last session remembered
  model_dataset = named;
  ensure_test_set();
}

void DataCache::ensure_test_set() {
  if (!app_.has_model()) return;
  const ModelConfig& c = app_.config();
  std::string spec = this->spec();
  std::string k = key(spec, c, c.conditional());
  if (k == test_set_key_) return;
  test_set_key_ = k;
  test_set.reset();  // in another shape: the views wait for the new one
  test_set_problem.clear();
  bool cond = c.conditional();
  int size = c.image_size, channels = c.image_channels;
  app_.tasks.run("test-set", [spec, size, channels, cond, k]() -> Apply {
    auto data = load_test_split(spec, size, channels, cond);
    return [data, spec, k](AppState& s) {
      if (s.data.test_set_key_ != k) return;  // the model or the data changed meanwhile
      s.data.show_test_set(data, spec, k);
    };
  });
}

void DataCache::show_test_set(std::shared_ptr<const ImageSet> data, const std::string& spec,
                              const std::string& k) {
  test_set_key_ = k;
  test_set.reset();
  test_set_problem.clear();
  try {
    if (app_.has_model()) check_images_fit(app_.config(), *data, spec + "'s images", spec);
  } catch (const std::exception& e) {
    test_set_problem = describe_exception(e);
    app_.error("test images not shown: " + test_set_problem);
    return;
  }
  test_set = std::move(data);
}

void DataCache::set_dataset(const std::string& spec) {
  // Checked in the model's shape, or (no model yet: one is loading) in the smallest preset's:
  // either way a folder that is not a dataset is reported and changes nothing.
  ModelConfig c = app_.has_model() ? app_.config() : ModelConfig{};
  int size = app_.has_model() ? c.image_size : 28,
      channels = app_.has_model() ? c.image_channels : 1;
  bool cond = app_.has_model() && c.conditional();
  std::string k = app_.has_model() ? key(spec, c, cond) : "";
  app_.tasks.run("test-set", [spec, size, channels, cond, k]() -> Apply {
    std::shared_ptr<const ImageSet> data;
    try {
      data = load_test_split(spec, size, channels, cond);
    } catch (const std::exception& e) {
      throw Error("cannot use " + spec + " as a dataset: " + describe_exception(e));
    }
    return [data, k, spec](AppState& s) {
      DataCache& d = s.data;
      d.dataset = spec;
      if (!k.empty() && s.has_model() && k == key(spec, s.config(), s.config().conditional())) {
        d.show_test_set(data, spec, k);  // kept for training even if it does not fit this model
      } else {
        d.ensure_test_set();  // another model (shape) arrived meanwhile: load it in that one's
                              // shape
      }
      s.info("training data: " + spec + " (" + std::to_string(data->size()) +
             " test images; used by the next training run and the latent map)");
    };
  });
}

}  // namespace ali::explorer
