// CelebA loading: images/s of the first open (libturbojpeg decode on every core + preprocessing +
// writing the cache) against later opens (memory-mapped cache), on a make-faces dataset in the
// CelebA layout. Prints figures; asserts nothing.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "ali/celeba.h"
#include "ali/error.h"
#include "ali/faces.h"

int main(int argc, char** argv) {
  CLI::App app{"CelebA cache benchmark"};
  int count = 2000, reps = 3;
  std::string dir = "/tmp/ali-bench-faces";
  app.add_option("--count", count)->capture_default_str();
  app.add_option("--dir", dir)->capture_default_str();
  app.add_option("--reps", reps, "cached opens to time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::filesystem::remove_all(dir);
    ali::FaceDatasetOptions fo;
    fo.count = count;
    ali::make_face_dataset(dir, fo);
    ali::CelebaOptions o;
    ali::CelebaStats first;
    ali::load_celeba(dir, "all", o, &first);
    std::printf("%d images 178x218 -> 64x64\nfirst open (decode + cache): %.0f images/s (%.2f s)\n",
                count, first.decode_images_per_s, first.decode_seconds);
    for (int r = 0; r < reps; ++r) {
      ali::CelebaStats s;
      ali::load_celeba(dir, "all", o, &s);
      std::printf("cached open %d (%s): %.0f images/s (%.3f s)\n", r + 1, s.cache_note.c_str(),
                  s.open_images_per_s, s.open_seconds);
    }
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_celeba: %s\n", ali::describe_exception(e).c_str());
    return 1;
  }
  return 0;
}
