// `ali eval`: every quality figure of a model beside its baseline, as a table and as JSON.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ali/checkpoint.h"
#include "ali/device.h"
#include "ali/error.h"
#include "ali/evaluation.h"
#include "ali/objective.h"
#include "ali/file_io.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace ali::cli {
namespace {

struct EvalArgs {
  std::string model, data = "fashion-mnist", out, classifier, device = "cpu";
  EvalOptions options;
};

fs::path classifier_path(const EvalArgs& a, const ModelConfig& c, const std::string& kind = "classifier") {
  if (!a.classifier.empty()) return a.classifier;
  return default_classifier_path(a.data, c.image_channels, c.image_size, kind);
}

void progress(const std::string& s) { std::cerr << "[eval] " << s << "\n"; }

void row(const std::string& what, double value, const std::string& baseline_name, double baseline) {
  std::cout << "  " << std::left << std::setw(34) << what << std::right << std::setw(10) << std::fixed
            << std::setprecision(4) << value;
  if (!baseline_name.empty())
    std::cout << "   " << std::left << std::setw(30) << baseline_name << std::right << std::setw(10)
              << baseline;
  std::cout << "\n";
}

// `ali eval --refine-steps`: the refined reconstructions beside the encoder's (what = "label" or
// "attribute", the preservation figure's kind; empty: no labels, the MSE alone).
void refined_rows(const nlohmann::json& j, const std::string& what) {
  if (!j.contains("reconstruction_refined")) return;
  const auto& rr = j["reconstruction_refined"];
  const std::string steps = std::to_string(rr["steps"].get<int>()) + " steps";
  row("refined (" + steps + ") pixel MSE", rr["pixel_mse"], "encoder's, same images", rr["encoder_pixel_mse"]);
  if (what.empty()) return;  // no labels: no preservation
  row("refined " + what + " preservation", rr[what + "_preservation"], "encoder's, same images",
      rr["encoder_" + what + "_preservation"]);
  if (rr.contains("linear_probe_refined_codes"))
    row("linear probe on refined codes", rr["linear_probe_refined_codes"], "mu, same images",
        rr["linear_probe_encoder_mu"]);
}

// The KL of E(x)'s Gaussian fit to the prior, beside prior samples of the same count, and why both
// are large when there are fewer codes than dimensions.
void kl_row(const nlohmann::json& q) {
  row("KL(fit || N(0,I))", q["kl_to_prior"], "N(0,I) samples", q["baseline_prior_samples"]["kl_to_prior"]);
  if (q.contains("note")) std::cout << "  (" << q["note"].get<std::string>() << ")\n";
}

void write_report(const EvalArgs& a, const nlohmann::json& j) {
  std::cout << "  (" << std::setprecision(1) << j["seconds"].get<double>() << " s)\n";
  if (a.out.empty()) return;
  write_file_atomically(a.out, j.dump(2) + "\n", "report");
  std::cout << "report: " << a.out << "\n";
}

// A conditional model on CelebA-layout data (multi-label attributes): fidelity per attribute.
void run_attribute_eval(const EvalArgs& a, AliModel& m, const CheckpointHeader& h, const ImageSet& train,
                        const ImageSet& test) {
  const ModelConfig& c = m.config;
  fs::path path = classifier_path(a, c, std::to_string(train.size()) + "-attribute-classifier");
  bool cached = false;
  auto clf = cached_attribute_classifier(path, train, test, &cached, progress);
  auto j = evaluate_attribute_model(m, train, test, clf, cached, a.options, progress);
  j["checkpoint"] = {{"path", a.model}, {"step", h.step}};
  j["classifier"]["path"] = path.string();
  std::cout << "attribute evaluation of " << a.model << " (" << c.arch << ", step " << h.step << ") on "
            << test.name << ", " << j["test_images"].get<int64_t>() << " test images\n";
  std::cout << "  " << std::left << std::setw(22) << "attribute" << std::right << std::setw(9) << "asked on"
            << std::setw(10) << "asked off" << std::setw(10) << "fidelity" << std::setw(12) << "classifier"
            << std::setw(22) << "real faces as asked\n";
  auto reading = [](const nlohmann::json& v) {
    std::ostringstream t;
    if (v.is_null()) t << "-";
    else t << std::fixed << std::setprecision(2) << v.get<double>();
    return t.str();
  };
  for (const auto& r : j["attribute_fidelity"]["per_attribute"])
    std::cout << "  " << std::left << std::setw(22) << r["name"].get<std::string>() << std::right << std::fixed
              << std::setprecision(3) << std::setw(9) << r["on"].get<double>() << std::setw(10)
              << r["off"].get<double>() << std::setw(10) << r["fidelity"].get<double>() << std::setw(11)
              << r["classifier_accuracy"].get<double>() << std::setw(13)
              << reading(r["real_images_as_asked"]["on"]) + " / " + reading(r["real_images_as_asked"]["off"])
              << "\n";
  std::cout << "  (real faces as asked: the classifier on the real test faces whose attributes are a\n"
               "   request's, on / off; '-' where no real face has them)\n";
  row("mean attribute fidelity", j["attribute_fidelity"]["mean"], "chance", 0.5);
  const auto& r = j["reconstruction"];
  row("reconstruction pixel MSE", r["pixel_mse"], "random pairs", r["baseline_random_pairs_mse"]);
  row("attribute preservation G(E(x))", r["attribute_preservation"], "classifier on x itself",
      r["classifier_accuracy_on_inputs"]);
  refined_rows(j, "attribute");
  row("inpainting MSE in the holes", j["inpainting"]["hole_mse"], "mean image",
      j["inpainting"]["baseline_mean_image_mse"]);
  const auto& s = j["sample_quality"];
  row("Frechet distance (samples)", s["frechet_distance"], "test half vs half", s["baseline_half_vs_half"]);
  kl_row(j["prior_match"]);
  if (j.contains("attribute_reading")) {
    const auto& rd = j["attribute_reading"];
    row("attributes D reads (mean accuracy)", rd["mean_accuracy"], "evaluation classifier",
        j["classifier"]["mean_accuracy"]);
    row("reconstruction MSE from the reading", rd["reconstruction_pixel_mse_from_reading"], "from the labels",
        r["pixel_mse"]);
  }
  write_report(a, j);
}

// An unconditional model on images without labels (a plain image folder): the figures that need none.
void run_unlabelled_eval(const EvalArgs& a, AliModel& m, const CheckpointHeader& h, const ImageSet& train,
                         const ImageSet& test) {
  auto j = evaluate_unlabelled_model(m, train, test, a.options, progress);
  j["checkpoint"] = {{"path", a.model}, {"step", h.step}};
  std::cout << "evaluation of " << a.model << " (" << m.config.arch << ", step " << h.step << ") on "
            << test.name << ", " << j["test_images"].get<int64_t>() << " images without labels";
  if (j["no_test_split"].get<bool>()) std::cout << " (a folder without a test split: the same images)";
  std::cout << "\n  (no probe, preservation or classifier features without labels)\n";
  std::cout << "  " << std::left << std::setw(34) << "figure" << std::right << std::setw(10) << "value"
            << "   " << std::left << std::setw(30) << "baseline (same run)" << "\n";
  const auto& r = j["reconstruction"];
  row("reconstruction pixel MSE", r["pixel_mse"], "random pairs", r["baseline_random_pairs_mse"]);
  refined_rows(j, "");
  row("inpainting MSE in the holes", j["inpainting"]["hole_mse"], "mean image",
      j["inpainting"]["baseline_mean_image_mse"]);
  const auto& s = j["sample_quality"];
  row("Frechet distance (8x8 pixels)", s["frechet_distance"], "images half vs half", s["baseline_half_vs_half"]);
  kl_row(j["prior_match"]);
  write_report(a, j);
}

void run_eval(const EvalArgs& a) {
  if (!a.out.empty()) check_output_path(a.out, "report");  // before minutes of evaluation
  CheckpointHeader h;
  auto m = load_model(a.model, resolve_device(a.device), &h);
  const ModelConfig& c = m->config;
  auto train = load_dataset(a.data, "train", c.image_size, c.image_channels);
  auto test = load_dataset(a.data, "test", c.image_size, c.image_channels);
  if (!train.labels.defined() && train.attributes.defined()) return run_attribute_eval(a, *m, h, train, test);
  if (!train.labels.defined()) return run_unlabelled_eval(a, *m, h, train, test);
  check_model_takes_classes(c, train);  // before minutes of training the classifier
  ClassifierReport cr;
  auto clf = cached_classifier(classifier_path(a, c), train, test, &cr, progress);
  auto j = evaluate_model(*m, train, test, clf, cr, a.options, progress);
  j["checkpoint"] = {{"path", a.model}, {"step", h.step}};

  std::cout << "evaluation of " << a.model << " (" << c.arch << ", step " << h.step << ") on "
            << test.name << ", " << j["test_images"].get<int64_t>() << " test images\n";
  std::cout << "  " << std::left << std::setw(34) << "figure" << std::right << std::setw(10) << "value"
            << "   " << std::left << std::setw(30) << "baseline (same run)" << "\n";
  const auto& p = j["linear_probe"];
  row("linear probe accuracy (mu)", p["accuracy_mean"], "raw pixels", p["baseline_raw_pixels_mean"]);
  row("  spread (std over draws)", p["accuracy_std"], "raw pixels", p["baseline_raw_pixels_std"]);
  const auto& pl = j["linear_probe_layers"];
  row("linear probe (3 hidden layers, mu)", pl["accuracy_mean"], "untrained encoder",
      pl["baseline_untrained_encoder_mean"]);
  if (j.contains("latent_probe") && j["latent_probe"].contains("skipped")) {
    std::cout << "  (probe on G's z skipped: " << j["latent_probe"]["skipped"].get<std::string>() << ")\n";
  } else if (j.contains("latent_probe")) {
    const auto& lp = j["latent_probe"];
    row("probe on G's z (G(z)'s class)", lp["accuracy_mean"], "G(z)'s pixels", lp["baseline_sample_pixels_mean"]);
    row("  the same, every code labelled", lp["accuracy_all_labels"], "", 0);
    row("  probe on mu of E(G(z))", lp["encoder_mu_on_samples_mean"], "", 0);
  }
  const auto& r = j["reconstruction"];
  row("reconstruction pixel MSE", r["pixel_mse"], "random pairs", r["baseline_random_pairs_mse"]);
  row("label preservation G(E(x))", r["label_preservation"], "classifier on x itself",
      r["classifier_accuracy_on_inputs"]);
  refined_rows(j, "label");
  if (j.contains("inpainting"))
    row("inpainting MSE in the holes", j["inpainting"]["hole_mse"], "mean image",
        j["inpainting"]["baseline_mean_image_mse"]);
  const auto& s = j["sample_quality"];
  row("Frechet distance (samples)", s["frechet_distance"], "train vs test split", s["baseline_train_vs_test"]);
  if (j.contains("conditional_fidelity"))
    row("conditional fidelity", j["conditional_fidelity"]["mean"], "chance",
        j["conditional_fidelity"]["baseline_chance"]);
  if (j.contains("class_reading"))
    row("classes D reads (accuracy)", j["class_reading"]["accuracy"], "evaluation classifier",
        j["class_reading"]["baseline_evaluation_classifier"]);
  const auto& q = j["prior_match"];
  const auto& qb = q["baseline_prior_samples"];
  row("E(x) mean norm", q["mean_norm"], "N(0,I) samples", qb["mean_norm"]);
  row("E(x) mean variance", q["mean_variance"], "N(0,I) samples", qb["mean_variance"]);
  row("E(x) mean |off-diag corr|", q["mean_abs_offdiag_corr"], "N(0,I) samples", qb["mean_abs_offdiag_corr"]);
  kl_row(q);
  if (c.objective == "semi") {
    progress("the K+1 discriminator as a classifier");
    auto semi = evaluate_semi(*m, h.options, train, test, a.options.test_limit);
    j["semi_supervised"] = semi;
    row("D accuracy (" + std::to_string(h.options.labels) + " labels)",
        semi["discriminator_accuracy"], "probe on mu, same labels",
        semi["linear_probe_same_labels_accuracy"]);
  }
  row("evaluation classifier accuracy", cr.test_accuracy, "", 0);
  write_report(a, j);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "measure a model: probe, reconstruction, samples, prior");
  cmd->add_option("--model", a->model, "checkpoint (.ali)")->required();
  cmd->add_option("--data", a->data, "fashion-mnist, an IDX folder, a CelebA-layout folder (attribute fidelity), or an image folder (class subfolders: labels; without them, the figures that need no labels)")->capture_default_str();
  cmd->add_option("--out", a->out, "write the report as JSON");
  cmd->add_option("--classifier", a->classifier, "evaluation classifier (trained and cached when missing)");
  cmd->add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--test-limit", a->options.test_limit, "use only the first N test images")->check(whole_number(1));
  cmd->add_option("--probe-draws", a->options.probe_draws, "random labelled subsets for the probe")
      ->capture_default_str()
      ->check(whole_number(1, 1000));
  cmd->add_option("--probe-per-class", a->options.probe_per_class, "labels per class")
      ->capture_default_str()
      ->check(whole_number(1));
  cmd->add_option("--samples", a->options.fd_samples, "generated samples for the Frechet distance")
      ->capture_default_str()
      ->check(whole_number(2, 1000000));
  cmd->add_option("--seed", a->options.seed)->capture_default_str()->check(seed_number());
  cmd->add_option("--refine-steps", a->options.refine_steps,
                  "also reconstruct from codes refined this many steps from E(x) (pixels only), beside "
                  "the encoder's own: what Refine buys")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--refine-limit", a->options.refine_limit, "test images refined (the first N)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace ali::cli
