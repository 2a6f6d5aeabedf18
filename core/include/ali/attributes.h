// The attribute rules of conditional models: named attribute rows, CelebA's exclusive groups and
// implications, the paper's attribute sweep and the class rows of sample grids. Included by models.h.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "ali/config.h"

namespace ali {

struct AliModel;

// Multi-hot attribute row (1 x K) with the named attributes on. Unknown names throw ali::Error listing
// the valid ones, as do several names for a model whose attributes are classes (one at a time). A
// model without attributes returns an undefined tensor (and refuses any name).
torch::Tensor attribute_vector(const ModelConfig& config, const std::vector<std::string>& on);
// Groups of attributes of which at most one is on (CelebA's hair colours, straight/wavy hair), as
// far as the names are present; for classes all names form one group (exactly one class on). The
// kind is the model's (ModelConfig::attributes_are_classes) or, for bare names, given
// (guessed_attribute_classes where nothing records it).
std::vector<std::vector<std::string>> exclusive_attribute_groups(const std::vector<std::string>& names,
                                                                 bool classes);
std::vector<std::vector<std::string>> exclusive_attribute_groups(const ModelConfig& c);
// Multi-label CelebA attributes (any of CelebA's 40 names among them, so a folder reduced to a few
// of them counts) rather than class names, whose rows are one-hot. Names of neither kind are taken
// as classes.
bool is_celeba_attribute_set(const std::vector<std::string>& names);
// The kind of bare names, where nothing records it (files from before ModelConfig::
// attribute_classes): classes unless CelebA's names are among them. The one place it is guessed.
bool guessed_attribute_classes(const std::vector<std::string>& names);
// Sets attribute `name` on or off in every row of `rows` (N x K float, columns in `names` order) and
// keeps the rows consistent: the others of its exclusive group off; Mustache or Goatee imply Male and
// not No_Beard; not Male implies neither (and No_Beard). Unknown names throw ali::Error.
// Classes, as exclusive_attribute_groups: the named one on turns the others off; CelebA's rules
// apply only to labels.
void request_attribute(const std::vector<std::string>& names, bool classes, torch::Tensor& rows,
                       const std::string& name, bool on);
void request_attribute(const ModelConfig& c, torch::Tensor& rows, const std::string& name, bool on);
// The paper's conditional figure: one fixed code per column (seeded), one attribute set per row.
// Returns rows*cols images (row-major), float in [0,1] on the CPU. Unknown names throw.
torch::Tensor attribute_sweep(AliModel& m, const std::vector<std::vector<std::string>>& rows, int cols,
                              uint64_t seed);
// The names of the attributes on (above 0.5) in one row (K values) of attributes named `names`
// (a dataset's), or of a conditional model's y.
std::vector<std::string> attributes_on(const std::vector<std::string>& names, const torch::Tensor& row);
std::vector<std::string> attributes_on(const ModelConfig& c, const torch::Tensor& row);
// The attributes of each of a sample grid's `grid_rows` rows, as `ali train` and the explorer draw
// them. Class models (names that are not CelebA's): one class per row, cycling. CelebA attribute sets:
// a cycle of showcase rows, women and men with each hair colour, smiles, glasses, a hat, beards and
// a bald head, each consistent as request_attribute keeps rows (No_Beard on where there is no beard,
// as in the data), as far as the model has the names. Empty for unconditional models.
std::vector<std::vector<std::string>> sample_grid_row_names(const ModelConfig& c, int64_t grid_rows);
// The y rows (n x K, 0/1) of an n-image sample grid in rows of `cols`: grid row r draws with
// sample_grid_row_names' row r, set by request_attribute in order; undefined for unconditional models.
torch::Tensor sample_grid_attributes(const ModelConfig& c, int64_t n, int cols);

}  // namespace ali
