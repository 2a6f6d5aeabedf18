// The latent shelf: codes kept for later (from dropped images, re-encoded whenever the model
// changes, map points, random draws, the inspector), each with a thumbnail G(z, y) that follows the
// model.
#pragma once
#include <string>
#include <vector>

#include "image.h"

namespace ali::explorer {

struct AppState;

struct ShelfEntry {
  uint64_t id = 0;
  std::string name;
  std::vector<float> code;
  std::string source;  // image file it was encoded from, if any
  Image thumb;
};

class Shelf {
 public:
  explicit Shelf(AppState& app);

  const std::vector<ShelfEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // Bumps with every change of the codes or their order (what the thumbnails and endpoints depend
  // on).
  uint64_t version() const { return version_; }
  bool dirty() const { return dirty_; }

  uint64_t add(const std::string& name, std::vector<float> code, const std::string& source);
  const ShelfEntry* find(uint64_t id) const;
  const ShelfEntry* find_source(const std::string& source) const;
  void set_code(uint64_t id, std::vector<float> code);
  void rename(uint64_t id, std::string name);
  void move(size_t from, size_t to);
  void remove(uint64_t id);
  void saved() { dirty_ = false; }

 private:
  friend class ShelfThumbsView;
  ShelfEntry* entry(uint64_t id);
  void changed() {
    ++version_;
    dirty_ = true;
  }
  AppState& app_;
  std::vector<ShelfEntry> entries_;
  uint64_t version_ = 1;
  bool dirty_ = false;
};

}  // namespace ali::explorer
