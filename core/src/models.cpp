#include "ali/models.h"

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include "ali/conv.h"
#include "ali/data.h"
#include "ali/conv_transpose.h"
#include "ali/batch_norm_act.h"
#include "ali/celeba.h"
#include "ali/dropout.h"
#include "ali/error.h"
#include "ali/text.h"
#include "ali/precision.h"
#include "ali/spectral_norm.h"

namespace ali {
namespace nn = torch::nn;

bool conv_keeps_fp32(int64_t in_size, int64_t kernel, int64_t stride) {
  return (in_size - kernel) / stride + 1 <= 1;
}

namespace {
// The presets' convolutions: square kernel and stride, no dilation, one group (and no padding: the
// builders in this file never set it).
bool plain_conv(const nn::detail::ConvNdOptions<2>& o) {
  const auto k = *o.kernel_size(), s = *o.stride(), d = *o.dilation();
  return k[0] == k[1] && s[0] == s[1] && d[0] == 1 && d[1] == 1 && o.groups() == 1 && !o.transposed();
}

// A conv layer under the precision policy (bf16 under autocast, except 1 x 1 outputs: fp32), on the
// fastest path for each pass (conv.h).
torch::Tensor conv_forward(nn::Conv2dImpl& conv, const torch::Tensor& x) {
  if (x.dim() != 4 || !plain_conv(conv.options)) return conv.forward(x);
  const int64_t kernel = (*conv.options.kernel_size())[0], stride = (*conv.options.stride())[0];
  auto dtype = conv_compute_dtype(x);
  if (autocast_active(x.device().type()) && conv_keeps_fp32(x.size(2), kernel, stride))
    dtype = torch::kFloat;
  return conv2d_passes(x, conv.weight, conv.bias, stride, dtype);
}

// nn::Conv2d (same parameters, names and initialisation) with that policy.
class PolicyConv2dImpl : public nn::Conv2dImpl {
 public:
  using nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& x) { return conv_forward(*this, x); }
};
TORCH_MODULE(PolicyConv2d);
}  // namespace

torch::nn::Sequential make_conv_stack(const std::vector<LayerSpec>& layers, int in_channels,
                                      float slope, bool maxout, float dropout_first,
                                      float dropout_rest, int* out_channels, bool spectral_norm) {
  nn::Sequential seq;
  int ch = in_channels;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    float p = i == 0 ? dropout_first : dropout_rest;
    if (p > 0) seq->push_back(Dropout(p));  // hash-mask dropout (dropout.h): 1.13's bernoulli_ is slow
    if (spectral_norm) {
      TORCH_CHECK(l.kind == LayerKind::Conv, "spectral normalisation is for conv stacks");
      seq->push_back(SNConv2d(nn::Conv2dOptions(ch, l.channels, l.kernel).stride(l.stride)));
    } else if (l.kind == LayerKind::Conv)
      seq->push_back(PolicyConv2d(
          nn::Conv2dOptions(ch, l.channels, l.kernel).stride(l.stride).bias(!l.batch_norm)));
    else
      // oneDNN-backed (conv_transpose.h): LibTorch 1.13's own is several times slower on the CPU.
      seq->push_back(ConvTranspose2d(ConvTranspose2dOptions{.in_channels = ch,
                                                            .out_channels = l.channels,
                                                            .kernel = l.kernel,
                                                            .stride = l.stride,
                                                            .bias = !l.batch_norm}));
    // Released code: running averages updated as 0.95 p + 0.05 batch.
    if (l.batch_norm && !spectral_norm)
      seq->push_back(nn::BatchNorm2d(nn::BatchNorm2dOptions(l.channels).momentum(0.05)));
    if (maxout) {
      TORCH_CHECK(l.channels % 2 == 0, "maxout needs an even channel count");
      seq->push_back(nn::Functional([](const torch::Tensor& t) {
        auto s = t.sizes().vec();
        s[1] /= 2;
        s.insert(s.begin() + 1, 2);  // B x 2 x C/2 x H x W: pieces are the two channel halves
        return std::get<0>(t.view(s).max(1));
      }));
      ch = l.channels / 2;
    } else {
      seq->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(slope)));
      ch = l.channels;
    }
  }
  *out_channels = ch;
  return seq;
}

namespace {
// The stack's module at `it` as an M, or null (another type, or past the end).
template <typename M, typename It>
M* module_at(nn::Sequential& stack, It it) {
  return it != stack->end() ? it->ptr()->template as<M>() : nullptr;
}
}  // namespace

std::vector<torch::Tensor> run_conv_stack(nn::Sequential& stack, std::vector<torch::Tensor> parts,
                                          std::vector<torch::Tensor>* taps) {
  TORCH_CHECK(!taps || parts.size() == 1, "run_conv_stack: taps need one part");
  std::vector<int64_t> sizes;
  for (const auto& p : parts) sizes.push_back(p.size(0));
  for (auto it = stack->begin(); it != stack->end(); ++it) {
    auto* bn = module_at<nn::BatchNorm2dImpl>(stack, it);
    auto act_it = bn ? std::next(it) : it;
    auto* act = module_at<nn::LeakyReLUImpl>(stack, act_it);
    if (!act) {
      if (bn) {
        auto all = bn->forward(parts.size() == 1 ? parts[0] : torch::cat(parts));
        parts = parts.size() == 1 ? std::vector<torch::Tensor>{all} : all.split_with_sizes(sizes);
      } else {
        for (auto& p : parts) p = it->forward(p);
      }
      continue;
    }
    // [BatchNorm,] LeakyReLU[, Dropout] as one op: the next layer's dropout (D's stacks) is
    // multiplied in by the same pass. Each part draws its own mask, as Dropout::forward would.
    auto drop_it = std::next(act_it);
    auto* drop = module_at<DropoutImpl>(stack, drop_it);
    const double slope = act->options.negative_slope();
    if (bn) {
      auto all = parts.size() == 1 ? parts[0] : torch::cat(parts);
      torch::Tensor mask;
      if (drop) {
        std::vector<torch::Tensor> masks;
        for (const auto& p : parts) masks.push_back(drop->mask_for(p));
        if (masks[0].defined()) mask = masks.size() == 1 ? masks[0] : torch::cat(masks);
      }
      all = batch_norm_leaky_relu(all, *bn, slope, mask);
      parts = parts.size() == 1 ? std::vector<torch::Tensor>{all} : all.split_with_sizes(sizes);
    } else {
      for (auto& p : parts) p = leaky_relu_mask(p, slope, drop ? drop->mask_for(p) : torch::Tensor());
    }
    if (taps) taps->push_back(parts[0]);
    it = drop ? drop_it : act_it;
  }
  return parts;
}

torch::Tensor run_conv_stack(nn::Sequential& stack, const torch::Tensor& x) {
  return run_conv_stack(stack, std::vector<torch::Tensor>{x})[0];
}

namespace {
void check_square(const ModelConfig& c, const std::vector<LayerSpec>& stack, const char* what) {
  int s = output_size(stack, c.image_size);
  if (s != 1)
    throw Error(std::string(what) + " of " + c.arch + " reduces " + std::to_string(c.image_size) +
                " pixels to " + std::to_string(s) + ", not 1");
}
}  // namespace

EncoderImpl::EncoderImpl(const ModelConfig& c) : nlat_(c.nlat) {
  const ArchSpec& a = c.spec();
  check_square(c, a.encoder, "the encoder");
  int ch = 0;
  stack_ = register_module("stack", make_conv_stack(a.encoder, c.image_channels, a.slope, false, 0, 0, &ch));
  if (c.conditional()) {
    embed_ = register_module("embed", nn::Linear(int(c.attributes.size()), a.embed_dim));
    ch += a.embed_dim;
  }
  head_ = register_module("head", nn::Conv2d(nn::Conv2dOptions(ch, 2 * c.nlat, 1)));
}

EncoderOutput EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  auto h = run_conv_stack(stack_, x);
  if (embed_) {
    TORCH_CHECK(y.defined(), "a conditional encoder needs attributes");
    h = torch::cat({h, embed_->forward(y).view({h.size(0), -1, 1, 1})}, 1);
  }
  // fp32 even under bf16 autocast: z_hat = mu + sigma * eps and everything downstream of it.
  auto out = conv_forward(*head_, h).flatten(1).to(torch::kFloat);
  return {out.narrow(1, 0, nlat_), out.narrow(1, nlat_, nlat_)};
}

torch::Tensor EncoderImpl::layer_features(const torch::Tensor& x, const torch::Tensor& y, int hidden) {
  std::vector<torch::Tensor> taps;
  auto h = run_conv_stack(stack_, std::vector<torch::Tensor>{x}, &taps)[0];
  if (embed_) {
    TORCH_CHECK(y.defined(), "a conditional encoder needs attributes");
    h = torch::cat({h, embed_->forward(y).view({h.size(0), -1, 1, 1})}, 1);
  }
  std::vector<torch::Tensor> rows;
  const int n = int(taps.size());
  for (int i = std::max(0, n - hidden); i < n; ++i) rows.push_back(taps[i].flatten(1).to(torch::kFloat));
  rows.push_back(conv_forward(*head_, h).flatten(1).to(torch::kFloat).narrow(1, 0, nlat_));
  return torch::cat(rows, 1);
}

torch::Tensor EncoderImpl::sample(const EncoderOutput& out, bool deterministic) const {
  if (deterministic) return out.mu;
  return out.mu + out.log_sigma.exp() * torch::randn_like(out.mu);
}

DecoderImpl::DecoderImpl(const ModelConfig& c) : nlat_(c.nlat) {
  const ArchSpec& a = c.spec();
  if (output_size(a.decoder, 1) != c.image_size)
    throw Error("the decoder of " + c.arch + " does not produce " + std::to_string(c.image_size) +
                " pixels");
  int in = c.nlat;
  if (c.conditional()) {
    embed_ = register_module("embed", nn::Linear(int(c.attributes.size()), a.embed_dim));
    in += a.embed_dim;
  }
  int ch = 0;
  stack_ = register_module("stack", make_conv_stack(a.decoder, in, a.slope, false, 0, 0, &ch));
  head_ = register_module("head", nn::Conv2d(nn::Conv2dOptions(ch, c.image_channels, 1).bias(false)));
  bias_ = register_parameter("out_bias",
                             torch::zeros({c.image_channels, c.image_size, c.image_size}));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z, const torch::Tensor& y) {
  auto h = z.reshape({z.size(0), nlat_, 1, 1});
  if (embed_) {
    TORCH_CHECK(y.defined(), "a conditional decoder needs attributes");
    h = torch::cat({h, embed_->forward(y).view({h.size(0), -1, 1, 1})}, 1);
  }
  return torch::sigmoid(head_->forward(run_conv_stack(stack_, h)) + bias_);
}

void DecoderImpl::init_output_bias(const torch::Tensor& images) {
  torch::NoGradGuard ng;
  auto mean = images.to(torch::kFloat).mean(0).clamp(1e-3, 1 - 1e-3);
  TORCH_CHECK(mean.sizes() == bias_.sizes(), "output bias images have the wrong shape");
  bias_.copy_(torch::log(mean / (1 - mean)));
}

JointDiscriminatorImpl::JointDiscriminatorImpl(const ModelConfig& c)
    : outputs_(c.disc_outputs), slots_(c.disc_slots), spectral_norm_(c.spectral_norm) {
  const ArchSpec& a = c.spec();
  check_square(c, a.disc_x, "D(x)");
  const bool sn = c.spectral_norm;  // the GALI discriminator: no BatchNorm, no dropout
  const float p_first = sn ? 0.f : a.dropout_first, p_rest = sn ? 0.f : a.dropout_rest;
  int cx = 0, cz = 0, cf = 0, cj = 0;
  dx_ = register_module("dx", make_conv_stack(a.disc_x, c.image_channels, a.slope, a.maxout,
                                              p_first, p_rest, &cx, sn));
  dz_ = register_module(
      "dz", make_conv_stack(a.disc_z, c.nlat, a.slope, a.maxout, p_first, p_rest, &cz, sn));
  int joint_in = (cx + cz) * slots_;
  if (c.disc_features > 0) {
    df_ = register_module("df", make_conv_stack(a.disc_z, c.disc_features, a.slope, a.maxout,
                                                p_first, p_rest, &cf, sn));
    joint_in += cf;
  }
  if (c.conditional()) {
    auto o = nn::LinearOptions(int(c.attributes.size()), a.embed_dim);
    embed_ = sn ? nn::AnyModule(SNLinear(o)) : nn::AnyModule(nn::Linear(o));
    register_module("embed", embed_.ptr());
    joint_in += a.embed_dim;
  }
  joint_ = register_module(
      "joint", make_conv_stack(a.disc_joint, joint_in, a.slope, a.maxout, p_rest, p_rest, &cj, sn));
  if (p_rest > 0) out_dropout_ = register_module("out_dropout", Dropout(p_rest));
  auto o = nn::Conv2dOptions(cj, outputs_, 1);
  out_ = sn ? nn::AnyModule(SNConv2d(o)) : nn::AnyModule(PolicyConv2d(o));
  register_module("out", out_.ptr());
  if (c.aux_classifier) {  // resolved() refuses it on an unconditional model
    auto ao = nn::Conv2dOptions(cx, int64_t(c.attributes.size()), 1);
    aux_ = sn ? nn::AnyModule(SNConv2d(ao)) : nn::AnyModule(PolicyConv2d(ao));
    register_module("aux", aux_.ptr());
  }
}

namespace {
torch::Tensor aux_logits(nn::AnyModule& aux, const torch::Tensor& hx) {
  return aux.forward(hx).flatten(2).mean(2).to(torch::kFloat);  // B x A (1x1 maps: as they are)
}
}  // namespace

torch::Tensor JointDiscriminatorImpl::classify(const torch::Tensor& x) {
  TORCH_CHECK(!aux_.is_empty(), "this discriminator has no auxiliary classifier");
  return aux_logits(aux_, run_conv_stack(dx_, x));
}

torch::Tensor JointDiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& z,
                                              const torch::Tensor& y) {
  auto logits = forward_slots({x}, {z}, y);
  return outputs_ == 1 ? logits.flatten() : logits;
}

torch::Tensor JointDiscriminatorImpl::forward_slots(const std::vector<torch::Tensor>& xs,
                                                    const std::vector<torch::Tensor>& zs,
                                                    const torch::Tensor& y,
                                                    const torch::Tensor& f) {
  TORCH_CHECK(int(xs.size()) == slots_ && int(zs.size()) == slots_, "this discriminator takes ",
              slots_, " (x, z) slot(s)");
  TORCH_CHECK(f.defined() == !df_.is_empty(), "the feature input is given exactly when D has one");
  const int64_t n = xs[0].size(0);
  std::vector<torch::Tensor> parts;
  // Shared branches: all slots pass each branch as one batch (same result without BatchNorm; with
  // one slot this is exactly the single-pair D).
  auto hx = run_conv_stack(dx_, slots_ == 1 ? xs[0] : torch::cat(xs));
  auto zcat = slots_ == 1 ? zs[0] : torch::cat(zs);
  auto hz = run_conv_stack(dz_, zcat.reshape({zcat.size(0), -1, 1, 1}));
  for (int s = 0; s < slots_; ++s) {
    parts.push_back(hx.narrow(0, s * n, n));
    parts.push_back(hz.narrow(0, s * n, n));
  }
  if (!df_.is_empty()) parts.push_back(run_conv_stack(df_, f.reshape({n, -1, 1, 1})));
  return joint_forward(std::move(parts), y, n);
}

torch::Tensor JointDiscriminatorImpl::forward_parts(const std::vector<torch::Tensor>& xs,
                                                    const std::vector<torch::Tensor>& zs,
                                                    const torch::Tensor& y,
                                                    torch::Tensor* aux) {
  TORCH_CHECK(slots_ == 1 && df_.is_empty() && outputs_ == 1,
              "forward_parts is for a single-pair discriminator with one output");
  TORCH_CHECK(!xs.empty() && xs.size() == zs.size(), "forward_parts takes as many x as z parts");
  // Spectral normalisation updates its power iteration at every forward: once a step, so the parts
  // go through as one (it has no BatchNorm, so that is the same result).
  std::vector<torch::Tensor> x_parts = xs, z_parts = zs, z4;
  if (spectral_norm_) {
    x_parts = {torch::cat(xs)};
    z_parts = {torch::cat(zs)};
  }
  for (const auto& z : z_parts) z4.push_back(z.reshape({z.size(0), -1, 1, 1}));
  auto hx = torch::cat(run_conv_stack(dx_, std::move(x_parts)));
  if (aux && !aux_.is_empty()) *aux = aux_logits(aux_, hx);
  auto hz = torch::cat(run_conv_stack(dz_, std::move(z4)));
  return joint_forward({hx, hz}, y, hx.size(0)).flatten();
}

torch::Tensor JointDiscriminatorImpl::joint_forward(std::vector<torch::Tensor> parts,
                                                    const torch::Tensor& y, int64_t n) {
  if (!embed_.is_empty()) {
    TORCH_CHECK(y.defined(), "a conditional discriminator needs attributes");
    parts.push_back(embed_.forward(y).view({n, -1, 1, 1}));
  }
  auto h = run_conv_stack(joint_, torch::cat(parts, 1));
  if (out_dropout_) h = out_dropout_->forward(h);
  return out_.forward(h).flatten(1).to(torch::kFloat);  // losses on fp32 logits under autocast
}

void init_weights(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters()) {
    const std::string& name = p.key();
    auto& t = p.value();
    bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    if (is_weight && t.dim() > 1)
      t.normal_(0.0, 0.01);
    else if (is_weight)
      t.fill_(1.0);  // BatchNorm gamma
    else
      t.zero_();
  }
}

AliModel::AliModel(const ModelConfig& c)
    : config(c.resolved()),
      encoder(config),
      decoder(config),
      discriminator(config) {
  init_weights(*encoder);
  init_weights(*decoder);
  init_weights(*discriminator);
}

void AliModel::to(const torch::Device& d) {
  encoder->to(d);
  decoder->to(d);
  discriminator->to(d);
}

void AliModel::train(bool on) {
  encoder->train(on);
  decoder->train(on);
  discriminator->train(on);
}

torch::Device AliModel::device() const { return encoder->parameters().front().device(); }

namespace {
// Copies `from`'s parameters and buffers into `to`'s of the same name, shape and dtype (keeping to's
// device and memory format); appends the names of `to`'s tensors that had none, prefixed by `net`.
void copy_state(const torch::nn::Module& from, torch::nn::Module& to, const std::string& net,
                std::vector<std::string>& left) {
  for (bool buffers : {false, true}) {
    auto src = buffers ? from.named_buffers() : from.named_parameters();
    for (auto& t : buffers ? to.named_buffers() : to.named_parameters()) {
      const torch::Tensor* s = src.find(t.key());
      if (s && s->sizes() == t.value().sizes() && s->scalar_type() == t.value().scalar_type())
        t.value().copy_(*s);
      else
        left.push_back(net + " " + t.key());
    }
  }
}
}  // namespace

std::shared_ptr<AliModel> AliModel::clone_to(const torch::Device& d) const {
  torch::NoGradGuard ng;
  // Building modules draws from the default generator; keep the trainer's random stream intact.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  auto m = std::make_shared<AliModel>(config);
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  m->to(d);
  m->copy_matching_state_from(*this);  // the same configuration: every tensor matches
  m->train(encoder->is_training());
  return m;
}

bool AliModel::copy_state_from(const AliModel& other) {
  if (!config_difference(config, other.config).empty()) return false;
  copy_matching_state_from(other);  // the same configuration: every tensor matches
  return true;
}

std::vector<std::string> AliModel::copy_matching_state_from(const AliModel& other) {
  torch::NoGradGuard ng;
  std::vector<std::string> left;
  copy_state(*other.encoder, *encoder, "encoder", left);
  copy_state(*other.decoder, *decoder, "decoder", left);
  copy_state(*other.discriminator, *discriminator, "discriminator", left);
  return left;
}

std::vector<torch::Tensor> all_tensors(AliModel& m, bool buffers) {
  std::vector<torch::Tensor> out;
  for (torch::nn::Module* net : {static_cast<torch::nn::Module*>(m.encoder.get()),
                                 static_cast<torch::nn::Module*>(m.decoder.get()),
                                 static_cast<torch::nn::Module*>(m.discriminator.get())}) {
    auto v = buffers ? net->buffers() : net->parameters();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

void check_images_fit(const ModelConfig& c, const ImageSet& data, const std::string& images,
                      const std::string& data_noun) {
  if (data.channels() != c.image_channels || data.image_size() != c.image_size)
    throw Error(images + " are " + std::to_string(data.channels()) + "x" +
                std::to_string(data.image_size()) + "x" + std::to_string(data.image_size()) +
                ", the model takes " + std::to_string(c.image_channels) + "x" +
                std::to_string(c.image_size) + "x" + std::to_string(c.image_size));
  if (c.conditional() && (!data.attributes.defined() || data.attribute_names != c.attributes))
    throw Error("this conditional model needs " + data_noun + " with its attributes (" +
                std::to_string(c.attributes.size()) + " of them)");
}

int64_t AliModel::parameter_count() const {
  int64_t n = 0;
  for (const auto* mod : std::initializer_list<const torch::nn::Module*>{
           encoder.get(), decoder.get(), discriminator.get()})
    for (const auto& p : mod->parameters()) n += p.numel();
  return n;
}

namespace {
torch::Tensor on(AliModel& m, const torch::Tensor& t) {
  return t.defined() ? t.to(m.device(), torch::kFloat) : t;
}
}  // namespace

torch::Tensor encode_mu(AliModel& m, const torch::Tensor& x, const torch::Tensor& y) {
  torch::InferenceMode guard;
  m.train(false);
  return m.encoder->forward(on(m, x), on(m, y)).mu.cpu();
}

torch::Tensor decode(AliModel& m, const torch::Tensor& z, const torch::Tensor& y) {
  torch::InferenceMode guard;
  m.train(false);
  return m.decoder->forward(on(m, z), on(m, y)).cpu();
}

torch::Tensor reconstruct(AliModel& m, const torch::Tensor& x, const torch::Tensor& y) {
  torch::InferenceMode guard;
  m.train(false);
  auto xd = on(m, x), yd = on(m, y);
  return m.decoder->forward(m.encoder->forward(xd, yd).mu, yd).cpu();
}

namespace {
// The column of attribute `name` in `names`, -1 when it is not there.
int64_t attribute_column(const std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : int64_t(it - names.begin());
}
}  // namespace

torch::Tensor read_attributes(AliModel& m, const torch::Tensor& x) {
  const ModelConfig& c = m.config;
  if (!c.conditional()) throw Error("an unconditional model has no attributes to read");
  if (!c.reads_attributes())
    throw Error("this model cannot read attributes: its discriminator has no auxiliary classifier "
                "(fine-tune it with --aux-weight)");
  if (x.dim() != 4 || x.size(1) != c.image_channels || x.size(2) != c.image_size || x.size(3) != c.image_size)
    throw Error("attributes are read from images of " + std::to_string(c.image_channels) + "x" +
                std::to_string(c.image_size) + "x" + std::to_string(c.image_size));
  if (x.size(0) == 0) return torch::zeros({0, int64_t(c.attributes.size())});
  torch::Tensor p;
  {
    torch::InferenceMode guard;
    m.train(false);
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += 256)
      parts.push_back(m.discriminator->classify(on(m, x.slice(0, i, std::min(x.size(0), i + 256)))).cpu());
    p = torch::cat(parts).to(torch::kFloat).sigmoid();
  }
  const auto& names = c.attributes;
  auto rows = torch::zeros_like(p);
  if (c.attributes_are_classes()) return rows.scatter_(1, p.argmax(1, true), 1.0f);
  rows = p.gt(0.5f).to(torch::kFloat);
  auto column = [&](const std::string& n) { return attribute_column(names, n); };
  for (const auto& group : exclusive_attribute_groups(c)) {
    std::vector<int64_t> cols;
    for (const auto& n : group) cols.push_back(column(n));
    auto idx = torch::tensor(cols, torch::kLong);
    auto members = p.index_select(1, idx), on_now = rows.index_select(1, idx);
    auto best = torch::zeros_like(members).scatter_(1, members.argmax(1, true), 1.0f);
    rows.index_copy_(1, idx, best * on_now.amax(1, true));  // at most one, when any was read
  }
  for (const char* hair : {"Mustache", "Goatee"}) {  // the rows with it: a bearded man
    int64_t k = column(hair);
    if (k < 0) continue;
    auto which = rows.select(1, k).gt(0.5f).nonzero().flatten();
    if (which.numel() == 0) continue;
    auto bearded = rows.index_select(0, which);
    request_attribute(c, bearded, hair, true);
    rows.index_copy_(0, which, bearded);
  }
  return rows;
}

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    size_t a = part.find_first_not_of(" \t"), b = part.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(part.substr(a, b - a + 1));
    start = end + 1;
  }
  return out;
}

torch::Tensor attribute_vector(const ModelConfig& config, const std::vector<std::string>& on) {
  if (!config.conditional()) {
    if (!on.empty()) throw Error("this model is not conditional: it takes no attributes");
    return {};
  }
  if (config.attributes_are_classes() && on.size() > 1)
    throw Error("this model's attributes are classes, drawn one at a time: name one, not " + joined(on));
  auto y = torch::zeros({1, int64_t(config.attributes.size())});
  for (const auto& name : on) {
    auto it = std::find(config.attributes.begin(), config.attributes.end(), name);
    if (it == config.attributes.end()) {
      std::string valid;
      for (const auto& a : config.attributes) valid += (valid.empty() ? "" : ", ") + a;
      throw Error("unknown attribute '" + name + "' (valid: " + valid + ")");
    }
    y[0][it - config.attributes.begin()] = 1.0f;
  }
  return y;
}

bool is_celeba_attribute_set(const std::vector<std::string>& names) {
  const auto& celeba = celeba_attribute_names();
  for (const auto& n : names)
    if (std::find(celeba.begin(), celeba.end(), n) != celeba.end()) return true;
  return false;
}

std::vector<std::vector<std::string>> exclusive_attribute_groups(const std::vector<std::string>& names,
                                                                 bool classes) {
  if (names.empty()) return {};
  if (classes) return {names};
  std::vector<std::vector<std::string>> groups;
  for (const auto& group : std::vector<std::vector<std::string>>{
           {"Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"}, {"Straight_Hair", "Wavy_Hair"}}) {
    std::vector<std::string> present;
    for (const auto& n : group)
      if (std::find(names.begin(), names.end(), n) != names.end()) present.push_back(n);
    if (present.size() > 1) groups.push_back(present);
  }
  return groups;
}

bool guessed_attribute_classes(const std::vector<std::string>& names) {
  return !is_celeba_attribute_set(names);
}

std::vector<std::vector<std::string>> exclusive_attribute_groups(const ModelConfig& c) {
  return exclusive_attribute_groups(c.attributes, c.attributes_are_classes());
}

void request_attribute(const ModelConfig& c, torch::Tensor& rows, const std::string& name, bool on) {
  request_attribute(c.attributes, c.attributes_are_classes(), rows, name, on);
}

void request_attribute(const std::vector<std::string>& names, bool classes, torch::Tensor& rows,
                       const std::string& name, bool on) {
  auto column = [&](const std::string& n) { return attribute_column(names, n); };
  auto set = [&](const std::string& n, float v) {
    if (int64_t k = column(n); k >= 0) rows.select(1, k).fill_(v);
  };
  if (column(name) < 0) {
    std::string valid;
    for (const auto& a : names) valid += (valid.empty() ? "" : ", ") + a;
    throw Error("unknown attribute '" + name + "' (valid: " + valid + ")");
  }
  set(name, on ? 1.0f : 0.0f);
  if (on)
    for (const auto& g : exclusive_attribute_groups(names, classes))
      if (std::find(g.begin(), g.end(), name) != g.end())
        for (const auto& other : g)
          if (other != name) set(other, 0.0f);
  if (classes) return;
  const bool facial_hair = name == "Mustache" || name == "Goatee";
  if (facial_hair && on) {
    set("Male", 1.0f);
    set("No_Beard", 0.0f);
  } else if ((name == "Male" && !on) || (name == "No_Beard" && on)) {
    set("Mustache", 0.0f);
    set("Goatee", 0.0f);
    set("No_Beard", 1.0f);
  } else if (name == "No_Beard" && !on) {
    set("Male", 1.0f);
    set("Mustache", 1.0f);
  } else if (facial_hair && !on) {  // No_Beard again when neither remains
    int64_t m = column("Mustache"), g = column("Goatee"), nb = column("No_Beard");
    if (nb >= 0) {
      auto any = torch::zeros({rows.size(0)});
      if (m >= 0) any = any.maximum(rows.select(1, m));
      if (g >= 0) any = any.maximum(rows.select(1, g));
      rows.select(1, nb).copy_(1.0f - any);
    }
  }
}

torch::Tensor attribute_sweep(AliModel& m, const std::vector<std::vector<std::string>>& rows, int cols,
                              uint64_t seed) {
  if (!m.config.conditional()) throw Error("an attribute sweep needs a conditional model");
  if (rows.empty() || cols < 1) throw Error("an attribute sweep needs at least one row and column");
  auto z = seeded_normal(cols, m.config.nlat, seed);
  std::vector<torch::Tensor> zs, ys;
  for (const auto& row : rows) {
    zs.push_back(z);
    ys.push_back(attribute_vector(m.config, row).expand({cols, -1}));
  }
  return decode(m, torch::cat(zs), torch::cat(ys));
}

torch::Tensor seeded_normal(int64_t count, int nlat, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({count, nlat}, gen);
}

}  // namespace ali
