// The readers that untrusted files reach, as fuzz targets: one call per input, shared by the seeded
// mutation campaign that ctest runs (fuzz_readers.cpp) and the libFuzzer entry points
// (libfuzzer.cpp).
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ali::fuzz {

// "checkpoint", "idx", "image", "celeba".
const std::vector<std::string>& target_names();

// Valid inputs of a target (a real checkpoint, IDX files, PNG/JPEG/BMP/GIF images, CelebA lists).
std::vector<std::string> seed_inputs(const std::string& target);

// Puts `bytes` where the target reads them under `dir` (a file, or a CelebA folder's list file) and
// runs the reader on it. Returns normally on success; throws ali::Error for a clean refusal.
void run_target(const std::string& target, const std::string& bytes,
                const std::filesystem::path& dir);

// One mutated input: byte flips, truncation, insertion, duplication, interesting integers, and
// format-aware edits (checkpoint header fields and payload with the checksum recomputed, image
// dimensions, IDX dimensions, CelebA list lines).
std::string mutate(const std::string& target, const std::string& seed, std::mt19937_64& rng);

}  // namespace ali::fuzz
