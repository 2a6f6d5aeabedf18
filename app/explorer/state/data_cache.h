// The data the views and runs use: the training data spec, the test split in the loaded model's
// shape (the fixed reconstruction batch and the latent map) and the training split kept for the
// next run.
#pragma once
#include <memory>
#include <string>

#include "ali/config.h"
#include "ali/data.h"

namespace ali::explorer {

struct AppState;

class DataCache {
 public:
  explicit DataCache(AppState& app);

  std::string dataset;                       // training data spec ("" until known)
  std::string model_dataset;                 // the dataset the last adopted model names
  std::shared_ptr<const ImageSet> test_set;  // in the loaded model's shape, once loaded
  // Why the data's test split is not shown ("" when it is, or is loading): data without the loaded
  // conditional model's attributes (a dataset chosen for the next run, say).
  std::string test_set_problem;

  std::string spec() const { return dataset.empty() ? "fashion-mnist" : dataset; }
  // Identifies a split of `spec` in the shape `c` takes (with condition attributes when `cond`).
  static std::string key(const std::string& spec, const ModelConfig& c, bool cond);
  std::shared_ptr<const ImageSet> cached_train_set(const std::string& key) const {
    return key == train_set_key_ ? train_set_ : nullptr;
  }
  void keep_train_set(std::shared_ptr<const ImageSet> set, std::string key) {
    train_set_ = std::move(set);
    train_set_key_ = std::move(key);
  }
  // A model was adopted: its data by default, and the test split in its shape.
  void model_adopted();
  // A folder (or name) as the training data. It is checked by loading its test split in the
  // background and adopted only if that works, so a folder that is not a dataset leaves things as
  // they were.
  void set_dataset(const std::string& spec);

 private:
  void ensure_test_set();
  // The dataset a model names, or the sample shipped beside the explorer for a name not here.
  std::string own_dataset(const ModelConfig& c) const;
  // Shows `data` (the test split of `spec` under `key`) if it fits the loaded model; else nothing,
  // with test_set_problem saying why (a conditional model given data without its attributes).
  void show_test_set(std::shared_ptr<const ImageSet> data, const std::string& spec,
                     const std::string& key);
  AppState& app_;
  std::string test_set_key_;
  std::shared_ptr<const ImageSet> train_set_;
  std::string train_set_key_;
};

}  // namespace ali::explorer
