// `ali make-faces`: a synthetic face dataset in the CelebA layout, for conditional ALI.
#include <cmath>
#include <iomanip>
#include <iostream>

#include "ali/celeba.h"
#include "ali/faces.h"
#include "ali/image_io.h"
#include "commands.h"

namespace ali::cli {
namespace {

struct FacesArgs {
  std::string out;
  int count = 2000;
  uint64_t seed = 1;
  int quality = 92;
  int threads = 0;
  std::string preview;
  std::string crop = "ali";
};

void run_make_faces(const FacesArgs& a) {
  // The preview's settings are checked before the dataset is written, not after.
  const CelebaCrop crop = parse_celeba_crop(a.crop);
  if (!a.preview.empty()) check_image_output(a.preview, ImageFiles::Png);
  FaceDatasetOptions o;
  o.count = a.count;
  o.seed = a.seed;
  o.quality = a.quality;
  o.threads = a.threads;
  auto sum = make_face_dataset(a.out, o);
  std::cout << "wrote " << sum.count << " faces (train " << sum.train << ", valid " << sum.valid
            << ", test " << sum.test << ") to " << a.out << "\n";
  const auto& names = celeba_attribute_names();
  std::cout << "attributes on:";
  for (size_t k = 0; k < names.size(); ++k)
    if (sum.rates[k] > 0)
      std::cout << " " << names[k] << " " << std::lround(100 * sum.rates[k]) << "%";
  std::cout << "\n";
  if (!a.preview.empty()) {
    // What the model sees: the first faces after CelebA preprocessing to 64 x 64.
    CelebaOptions co;
    co.crop = crop;
    co.threads = a.threads;
    auto set = load_celeba(a.out, "all", co);
    int64_t n = std::min<int64_t>(64, set.size());
    auto x = set.images.narrow(0, 0, n).to(torch::kFloat).div(255.0);
    save_png(a.preview, upscale(make_grid(x, 8), 2));
    std::cout << "wrote a contact sheet of " << n << " faces at 64x64 to " << a.preview << "\n";
  }
}

}  // namespace

void add_faces_command(CLI::App& app) {
  auto a = std::make_shared<FacesArgs>();
  auto* cmd = app.add_subcommand(
      "make-faces", "write a synthetic face dataset in the CelebA layout (attributes drawn in the faces)");
  cmd->add_option("--out", a->out, "dataset folder (img_align_celeba/, list_attr_celeba.txt, ...)")
      ->required();
  cmd->add_option("--count", a->count, "number of faces")->capture_default_str()->check(CLI::Range(1, 999999));
  cmd->add_option("--seed", a->seed, "random seed (same seed, same files)")->capture_default_str()->check(seed_number());
  cmd->add_option("--quality", a->quality, "JPEG quality")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--threads", a->threads, "worker threads (0: all cores)")->capture_default_str()->check(whole_number(0, 1024));
  cmd->add_option("--preview", a->preview, "also write a PNG contact sheet of the first 64 faces at 64x64");
  cmd->add_option("--crop", a->crop, "preview preprocessing: ali, crop108 or crop140")->capture_default_str();
  cmd->callback([a] { run_make_faces(*a); });
}

}  // namespace ali::cli
