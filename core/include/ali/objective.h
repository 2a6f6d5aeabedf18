// The training objective: the game one training step plays on a batch. The trainer owns the model,
// the optimisers and the batch stream; an Objective turns one batch into gradients (every
// discriminator parameter's .grad from L_D, every encoder and decoder parameter's .grad from L_GE)
// and named scalar metrics. One file per objective under core/src/objectives/:
//   ali            the ALI game (BiGAN with a deterministic encoder; ALICE's --rec-weight term)
//   gali4, gali8   Generalized ALI: a K-way discriminator over the model's own cycles
//   gali-pretrain  GALI-4 with a frozen feature network M feeding D
//   gali-mix       GALI with patch mixes (trains inpainting)
//   semi           the ALI paper's semi-supervised K+1 discriminator
// ../shared/GALI_REFERENCE.md is the specification of the GALI and K+1 losses.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ali/checkpoint.h"
#include "ali/data.h"
#include "ali/models.h"

namespace ali {

// Which networks one step updates: both (simultaneous), one side of the alternating schedule, or
// the encoder alone (TrainOptions::fit_encoder).
enum class Update { Both, DiscriminatorOnly, GeneratorsOnly, EncoderOnly };
inline bool updates_discriminator(Update u) { return u == Update::Both || u == Update::DiscriminatorOnly; }
inline bool updates_encoder(Update u) { return u != Update::DiscriminatorOnly; }
inline bool updates_decoder(Update u) { return u == Update::Both || u == Update::GeneratorsOnly; }
// "simultaneous": every step Both. "alternate": 5 D-only steps, then 1 E/G-only step, repeating.
Update update_for_step(const std::string& schedule, int64_t step);
const std::vector<std::string>& schedule_names();

struct StepContext {
  int64_t step = 0;  // steps completed before this one
  Update update = Update::Both;
  double instance_noise = 0;  // std of Gaussian noise added to every image D sees (0: none)
  // Data-parallel: this process's place, so batches an objective draws itself (semi's labelled
  // ones) are sliced per rank as the loader's are.
  int rank = 0, world_size = 1;
};

// One batch's losses and metrics as 0-d tensors (the trainer reads them in one transfer).
struct ObjectiveOutput {
  torch::Tensor d_loss, g_loss;
  std::vector<torch::Tensor> metrics;  // in metric_names() order
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;
  // Names of the metrics each step reports besides L_D and L_GE (log.csv columns, plot series).
  virtual std::vector<std::string> metric_names() const = 0;
  // Called when the trainer gets its data: checks it fits and keeps what the objective needs.
  virtual void prepare(std::shared_ptr<const ImageSet> data, const TrainOptions& options) {}
  // One forward pass on the batch, then the gradients of the networks `ctx.update` names. Noise
  // comes from the default generator (so a resumed run draws what an uninterrupted one would).
  virtual ObjectiveOutput compute_gradients(AliModel& m, const Batch& batch,
                                            const StepContext& ctx) = 0;
};

struct ObjectiveInfo {
  std::string name;
  std::string description;
};
const std::vector<ObjectiveInfo>& objective_catalog();
std::vector<std::string> objective_names();
// Throws ali::Error listing the valid names when `name` is not one.
void check_objective_name(const std::string& name);

// What shapes the discriminator for an objective (besides the objective's name).
struct ObjectiveShape {
  int classes = 0;         // semi: the dataset's class count
  int feature_dim = 0;     // gali-pretrain: the width of M's features
  int spectral_norm = -1;  // -1: as the released code (on for GALI objectives), 0 off, 1 on
};
// `c` with objective, disc_outputs, disc_slots, disc_features and spectral_norm set.
ModelConfig configure_objective(ModelConfig c, const std::string& objective,
                                const ObjectiveShape& shape);
// True for the GALI objectives (their released code used spectral norm and instance noise).
bool is_gali(const std::string& objective);

// The objective named by config.objective, for these training options (`device`: where the model
// trains, for what the objective holds itself, e.g. gali-pretrain's M). Throws ali::Error for an
// unknown name, options that do not apply, or a config whose discriminator does not fit.
std::unique_ptr<Objective> make_objective(const ModelConfig& config, const TrainOptions& options,
                                          const torch::Device& device = torch::kCPU);

// What a user chooses for a new run's objective: `ali train`'s flags, the explorer's New model.
struct ObjectiveChoice {
  std::string objective;  // empty: "ali" for a new run, the checkpoint's on --resume
  std::string weighting = "uniform";
  std::string schedule = "simultaneous";
  std::string spectral_norm = "auto";  // auto (as released: on for GALI), on, off
  double instance_noise = -1;  // < 0: 0.1 for GALI objectives (annealed over the run), else 0
  int64_t labels = 0;          // semi: labelled training images
  std::string feature_net;     // gali-pretrain: M ("" = the cached evaluation classifier)
};
// A new model's config and options for `choice`: `data` is the training set (classes for semi),
// `data_spec` names it (for gali-pretrain's default M, the cached evaluation classifier, trained
// when missing, with `note` told so), `planned_steps` the run's length (the instance noise anneals
// over it). Throws ali::Error on a choice that does not fit the data or the other options.
ModelConfig apply_objective_choice(ModelConfig c, TrainOptions& o, const ObjectiveChoice& choice,
                                   const ImageSet& data, const std::string& data_spec,
                                   int64_t planned_steps, const torch::Device& device,
                                   const std::function<void(const std::string&)>& note = {});
// Resuming: the objective cannot change a run's game (ali::Error when `choice` names another).
void check_resume_objective(const ObjectiveChoice& choice, const ModelConfig& c);

// ---- Helpers the objectives share ----
// D's gradients from L_D only, E's and G's from L_GE only (each .grad replaced), for `update`.
void set_gradients(AliModel& m, const torch::Tensor& d_loss, const torch::Tensor& g_loss,
                   Update update);
torch::Tensor with_instance_noise(const torch::Tensor& x, double std);
// The annealed instance noise of a step: std0 * (E - e) / E for epoch e of E = ceil(steps /
// per_epoch) epochs, 0 from step `steps` on (the released code's per-epoch schedule); std0 when
// steps <= 0.
double instance_noise_at(double std0, int64_t steps, int64_t steps_per_epoch, int64_t step);

// ---- ALI ----
struct AliLosses {
  torch::Tensor d_loss;  // softplus(-l_q) + softplus(l_p), batch mean
  torch::Tensor g_loss;  // softplus(l_q) + softplus(-l_p), batch mean
};
// l_q: logits of encoder pairs (x, E(x)); l_p: logits of decoder pairs (G(z), z).
AliLosses ali_losses(const torch::Tensor& l_q, const torch::Tensor& l_p);

struct GradientResult {
  AliLosses losses;
  torch::Tensor l_q, l_p;  // logits of the encoder pairs and of the decoder pairs
  torch::Tensor rec;  // mean|x - G(z_hat)| when a reconstruction weight was given, else undefined
  // With an auxiliary weight: the classifier's loss on the real images and on G(z, y) (aux_loss).
  torch::Tensor aux_real, aux_fake;
  torch::Tensor prior_kl;  // batch_prior_kl(z_hat) when a prior weight was given, else undefined
  // code_attribute_dependence(mu, y) when an independence weight was given, else undefined
  torch::Tensor dependence;
  torch::Tensor contrastive;  // view_contrastive_loss of mu(x) and mu(view_of(x)), when weighted
  torch::Tensor aux_edit;     // aux_loss(aux(G(z, y')), y') for the edited y', when weighted
};
// The terms added to the ALI game, each by its weight (0: not added).
struct AliTerms {
  // rec, prior, independence and contrastive are the encoder's terms: with Update::EncoderOnly
  // they are all it learns from (no D, the decoder in eval mode and fixed).
  double rec = 0.0;           // L_GE += rec * mean|x - G(z_hat)| (ALICE's explicit cycle term)
  double aux = 0.0;           // L_D += aux * aux_loss(aux(x), y), L_GE += aux * aux_loss(aux(G(z, y)), y)
  double prior = 0.0;         // L_GE += prior * batch_prior_kl(z_hat); only the encoder's means see it
  // L_GE += independence * code_attribute_dependence(mu, y)'s terms above 0 (pairs correlated
  // beyond chance); the means only. GradientResult::dependence is the whole sum.
  double independence = 0.0;
  double contrastive = 0.0;  // L_GE += contrastive * view_contrastive_loss(mu(x), mu(view_of(x)))
  // L_GE += aux_edit * aux_loss(aux(G(z, y')), y'), y' = edited_attributes(y); needs the classifier
  double aux_edit = 0.0;
};
// One forward pass of the ALI game on a batch (x, optional attributes y), then the simultaneous
// gradients (set_gradients), with the added terms `terms` gives weights to. The auxiliary term
// needs a conditional model whose D has the classifier; the independence term a conditional model.
GradientResult compute_ali_gradients(AliModel& m, const torch::Tensor& x,
                                     const torch::Tensor& y = {}, const AliTerms& terms = {},
                                     Update update = Update::Both, double instance_noise = 0.0);
// A second view of images x (B x C x H x W, values in [0, 1]) for the contrastive term: each image
// shifted by up to max(1, H/14) pixels each way (edges repeated), and half of them with a random
// square of side H/5..H/3 set to the image's mean. Draws from the global generator.
torch::Tensor view_of(const torch::Tensor& x);
inline constexpr double kContrastiveTemperature = 0.3;
// NT-Xent (Chen et al. 2020) of two views' codes a, b (n x d each, n >= 2): cross-entropy of each
// of the 2n rows finding its counterpart among the other 2n - 1 by cosine similarity / temperature,
// averaged. log(2n - 1) when the codes tell nothing; towards 0 as each pair stands apart.
torch::Tensor view_contrastive_loss(const torch::Tensor& a, const torch::Tensor& b,
                                    double temperature = kContrastiveTemperature);
// Attributes y (n x k, 0/1) with one attribute per row re-drawn: when every row is one-hot (class
// labels), each row is a random class; otherwise one random attribute per row is set to 0 or 1 at
// random. Draws from the global generator.
torch::Tensor edited_attributes(const torch::Tensor& y);
// KL(N(m, S) || N(0, I)) = 0.5 (tr S + |m|^2 - d - log det S) for the mean m and covariance S
// (divisor n - 1) of the rows of z (n x d, n > d), in double, differentiable: what `ali eval`'s
// prior match measures over a whole split, on one batch. Its expectation over batches is smallest
// when the codes' distribution has the prior's mean and covariance.
torch::Tensor batch_prior_kl(const torch::Tensor& z);
// How much a batch's codes (n x d) tell of its attributes (n x k, 0/1): the squared correlation of
// every code dimension with every attribute that varies in the batch, less its expectation 1/(n-1)
// when the two are independent, summed (in double, differentiable in the codes). About 0 when the
// codes carry nothing linear about the attributes; for uncorrelated codes one attribute's share is
// the R^2 of reading it linearly from them, less chance. In conditional ALI the decoder draws z independently
// of y, so codes that carry y are codes the decoder meets with the wrong attributes. Needs n > 2.
torch::Tensor code_attribute_dependence(const torch::Tensor& codes, const torch::Tensor& y);
// The auxiliary classifier's loss: binary cross-entropy of each attribute logit against y (0/1),
// summed over the attributes and averaged over the rows.
torch::Tensor aux_loss(const torch::Tensor& logits, const torch::Tensor& y);

// ---- K-way (GALI) ----
// One joint tuple: (x1, z1) and, for two-slot discriminators, (x2, z2); f: M's features (pretrain).
struct JointTuple {
  torch::Tensor x1, z1, x2 = {}, z2 = {}, f = {};  // a single pair leaves the second and f undefined
};
// The model's cycle samples on a batch: z_hat = E(x), x_r = G(z_hat), z_hat_r = E(x_r);
// x_f = G(z), z_t = E(x_f), x_rf = G(z_t). Each of E and G called once per source.
struct CycleSources {
  torch::Tensor x, z_hat, x_r, z_hat_r, z, x_f, z_t, x_rf;
};
CycleSources cycle_sources(AliModel& m, const torch::Tensor& x, const torch::Tensor& y = {});
std::vector<JointTuple> gali4_tuples(
    const CycleSources& s);  // class i = tuple i (the spec's table)
std::vector<JointTuple> gali8_tuples(const CycleSources& s);

// Every class's tuple through D as one batch; logits (K * B) x K, class-major.
torch::Tensor kway_logits(AliModel& m, const std::vector<JointTuple>& tuples,
                          const torch::Tensor& y, double instance_noise);
// Loss weights: L_D = sum_i d[i] CE(o_i, i); L_GE = sum_i sum_{j != i} g[i][j] CE(o_i, j).
struct KWayWeights {
  std::vector<double> d;
  std::vector<std::vector<double>> g;
};
KWayWeights uniform_weights(int k);
// The released scripts' weights for `objective` (gali4's precedence slip included).
KWayWeights released_weights(const std::string& objective, int k);
struct KWayLosses {
  torch::Tensor d_loss, g_loss;
  torch::Tensor ce;      // K x K: ce[i][j] = CE(o_i, j)
  torch::Tensor p_true;  // K: mean softmax probability of class i on tuple i
};
// `logits`: (K * B) x K, class-major (the output of kway_logits).
KWayLosses kway_losses(const torch::Tensor& logits, const KWayWeights& w);

// ---- GALI-pretrain's frozen feature network M ----
struct FeatureNet {
  std::function<torch::Tensor(const torch::Tensor&)>
      forward;  // images [0,1] -> B x dim (differentiable)
  int dim = 0;
  std::string description;
};
// The evaluation classifier file `ali eval` caches (its 128-d penultimate layer), or any
// TorchScript module taking B x C x H x W images in [0, 1] and returning B x D (or B x D x 1 x 1).
// M's parameters never change: they take no gradient, and the module stays in evaluation mode.
FeatureNet load_feature_net(const std::string& path, int channels, int image_size,
                            const torch::Device& device);

// ---- semi: the K+1 discriminator ----
struct SemiLosses {
  torch::Tensor d_loss, g_loss;
  torch::Tensor lab, unl;  // L_lab and L_unl
};
// l_lab: labelled encoder pairs' K logits with labels y; l_unl: unlabelled encoder pairs; l_gen:
// generated pairs (G(z), z). The generated class has its logit fixed at 0.
SemiLosses semi_losses(const torch::Tensor& l_lab, const torch::Tensor& y,
                       const torch::Tensor& l_unl, const torch::Tensor& l_gen);
// The labelled subset: `count` rows, class-balanced (counts differ by at most one; lower classes
// get the remainder), seeded. Throws when count is above the labelled count, below the class count,
// or a class has too few images.
torch::Tensor semi_labelled_rows(const torch::Tensor& labels, int classes, int64_t count,
                                 uint64_t seed);
// The labelled images semi trains on at `step` (dataset indices, taken from `rows`, the labelled
// subset): a batch as large as the unlabelled one, or all of them; a pure function of (seed, step).
// Data-parallel, rank's slice of the global labelled batch (when there is a labelled image per rank).
torch::Tensor semi_labelled_batch(const torch::Tensor& rows, int batch, uint64_t seed, int64_t step,
                                  int rank = 0, int world_size = 1);
// The K+1 discriminator as a classifier: argmax_k D(x, mu(E(x)))_k for images in [0, 1] (eval
// mode).
torch::Tensor semi_classify(AliModel& m, const torch::Tensor& images);
// `ali eval`'s extra figures for a semi model: D's test accuracy beside a linear probe on the
// encoder's mu trained on the same labelled rows (from the training options' labels and seed).
nlohmann::json evaluate_semi(AliModel& m, const TrainOptions& options, const ImageSet& train,
                             const ImageSet& test, int64_t test_limit = 0);

}  // namespace ali
