// CelebA in its published layout (img_align_celeba/*.jpg, list_attr_celeba.txt,
// list_eval_partition.txt): a strict reader for the two text files, and a loader that decodes the
// JPEGs once (libturbojpeg, several threads) into a preprocessed uint8 cache file which later opens
// are memory-mapped from.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ali/data.h"

namespace ali {

// The 40 CelebA attribute names in the order of list_attr_celeba.txt.
const std::vector<std::string>& celeba_attribute_names();

// How a 178 x 218 CelebA image becomes size x size.
enum class CelebaCrop {
  Ali,        // the ALI code: shorter side to `size` keeping aspect (64 x 78), centre crop
  Center108,  // centre crop 108 x 108 of the original, then resize to `size`
  Center140,  // centre crop 140 x 140 of the original, then resize to `size`
};
std::string to_string(CelebaCrop crop);           // "ali", "crop108", "crop140"
CelebaCrop parse_celeba_crop(const std::string& name);  // also accepts "108", "140"

// The two text files, parsed and checked. Rows are in list_attr_celeba.txt order.
struct CelebaIndex {
  std::vector<std::string> attribute_names;  // as the file names them
  std::vector<std::string> images;           // file names under img_align_celeba/
  std::vector<int> attribute_lines;          // 1-based line of each row in list_attr_celeba.txt
  std::vector<uint8_t> attributes;           // images.size() x attribute_names.size(), 0/1
  std::vector<int8_t> partition;             // 0 train, 1 valid, 2 test; empty without the file
};

// True when `dir` holds list_attr_celeba.txt.
bool is_celeba_folder(const std::filesystem::path& dir);

// Parses list_attr_celeba.txt and (when present) list_eval_partition.txt. Accepts CRLF, tabs and runs
// of spaces; refuses anything else malformed with ali::Error "FILE:LINE: what is wrong".
CelebaIndex read_celeba_index(const std::filesystem::path& dir);

struct CelebaOptions {
  int size = 64;
  CelebaCrop crop = CelebaCrop::Ali;
  int threads = 0;  // decoding threads; 0: one per hardware thread
  bool cache = true;  // false: decode into memory, no cache file
  // Where the cache file goes; empty: next to the data, or the user cache dir
  // ($XDG_CACHE_HOME or ~/.cache)/ali-explorer when the data folder is not writable.
  std::filesystem::path cache_dir;
};

struct CelebaStats {
  bool decoded = false;    // the JPEGs were decoded (cache built or rebuilt, or no cache)
  std::string cache_note;  // "reused", "built", "rebuilt: <why the old one was refused>", "off"
  std::filesystem::path cache_path;
  int64_t images = 0;              // images in the folder (all partitions)
  double decode_seconds = 0;       // decoding + preprocessing + writing the cache
  double decode_images_per_s = 0;
  double open_seconds = 0;  // mapping + validating (checksum) the cache and building the tensor
  double open_images_per_s = 0;
};

// A split ("train", "valid", "test" or "all") of the CelebA folder at `dir`: images uint8
// N x 3 x size x size, attributes float N x 40 in {0,1} named after the file's names. The images tensor
// is a zero-copy view over the memory-mapped cache (mapped copy-on-write; unmapped when the last tensor
// sharing it dies) when the split is a contiguous run of rows, as it is in the real CelebA; otherwise
// the split's rows are copied out.
ImageSet load_celeba(const std::filesystem::path& dir, const std::string& split,
                     const CelebaOptions& options = {}, CelebaStats* stats = nullptr);

// The cache file for these options in the data folder (the first place looked at).
std::filesystem::path celeba_cache_path(const std::filesystem::path& dir, const CelebaOptions& options);

}  // namespace ali
