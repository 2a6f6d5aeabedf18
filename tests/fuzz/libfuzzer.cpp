// libFuzzer entry point for one reader (ALI_FUZZ_TARGET: checkpoint, idx, image or celeba), for
// runs longer than ctest's seeded campaign: scripts/fuzz builds these with clang and runs them. A
// clean refusal (ali::Error) is a pass; any other exception escapes, and libFuzzer reports it as a
// crash.
#include <unistd.h>

#include <cstdint>
#include <filesystem>

#include "ali/error.h"
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("ali-libfuzzer-" + std::string(ALI_FUZZ_TARGET) + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  try {
    ali::fuzz::run_target(ALI_FUZZ_TARGET, std::string(reinterpret_cast<const char*>(data), size),
                          dir);
  } catch (const ali::Error&) {
  }
  return 0;
}
