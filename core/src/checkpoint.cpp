#include "ali/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "ali/error.h"
#include "ali/file_io.h"

namespace fs = std::filesystem;

namespace ali {
namespace {

constexpr char kMagic[8] = {'A', 'L', 'I', 'C', 'K', 'P', 'T', '\0'};

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) b[i] = char((uint64_t(v) >> (8 * i)) & 0xff);  // LE
  out.append(b, sizeof(T));
}

template <typename T>
T get(const std::string& in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(uint8_t(in[at + i])) << (8 * i);
  return T(v);
}

uint32_t crc_of(const std::string& a, const std::string& b) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32_z(c, reinterpret_cast<const Bytef*>(a.data()), a.size());
  c = crc32_z(c, reinterpret_cast<const Bytef*>(b.data()), b.size());
  return uint32_t(c);
}

// Bounds on what a header may make the reader do.
constexpr size_t kMaxCheckpointBytes = size_t(4) << 30;
constexpr uint64_t kMaxHeaderBytes = 16 << 20;
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxNames = 100000;  // attributes, class names
constexpr size_t kMaxNameLength = 1024;

// nlohmann parses iteratively but copies and dumps recursively: a header nested 100,000 levels deep
// would overflow the stack later. Counted before parsing, strings skipped.
void check_json_depth(const std::string& json, const std::string& name) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : json) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > kMaxJsonDepth)
        throw Error(name + " has a malformed header (nested more than " +
                    std::to_string(kMaxJsonDepth) + " levels deep)");
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
}

[[noreturn]] void bad_field(const std::string& name, const std::string& field,
                            const std::string& why) {
  throw Error(name + " has a malformed header: " + field + " " + why);
}

// Types and ranges of every field, checked before conversion (nlohmann converts out-of-range
// numbers with an unchecked cast) and before any of them sizes an allocation.
void check_int(const nlohmann::json& obj, const char* key, int64_t lo, int64_t hi,
               const std::string& name, const std::string& where, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) bad_field(name, where + key, "is missing");
    return;
  }
  if (!it->is_number_integer()) bad_field(name, where + key, "is not an integer");
  // (A parsed non-negative number is unsigned, and may exceed int64.)
  const bool out = it->is_number_unsigned()
                       ? (it->get<uint64_t>() > uint64_t(hi) || int64_t(it->get<uint64_t>()) < lo)
                       : (it->get<int64_t>() < lo || it->get<int64_t>() > hi);
  if (out)
    bad_field(name, where + key,
              "is " + it->dump() + ", outside " + std::to_string(lo) + ".." + std::to_string(hi));
}

void check_number(const nlohmann::json& obj, const char* key, const std::string& name,
                  const std::string& where, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) bad_field(name, where + key, "is missing");
    return;
  }
  if (!it->is_number()) bad_field(name, where + key, "is not a number");
}

void check_names(const nlohmann::json& obj, const char* key, const std::string& name,
                 const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) return;
  if (!it->is_array() || it->size() > kMaxNames)
    bad_field(name, where + key, "is not a list of names");
  for (const auto& v : *it)
    if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxNameLength)
      bad_field(name, where + key, "holds something other than a name");
}

void check_string(const nlohmann::json& obj, const char* key, const std::string& name,
                  const std::string& where, bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) bad_field(name, where + key, "is missing");
    return;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxNameLength)
    bad_field(name, where + key, "is not a name");
}

void check_header_fields(const nlohmann::json& j, const std::string& name) {
  if (!j.is_object()) bad_field(name, "its top level", "is not an object");
  check_int(j, "format_version", 1, kCheckpointFormatVersion, name, "");
  check_int(j, "step", 0, int64_t(1) << 53, name, "");
  check_names(j, "class_names", name, "");
  if (j.contains("extra") && !j.at("extra").is_object())
    bad_field(name, "extra", "is not an object");
  if (!j.contains("config") || !j.at("config").is_object()) bad_field(name, "config", "is missing");
  const auto& c = j.at("config");
  check_string(c, "arch", name, "config.", true);
  check_int(c, "nlat", 1, kMaxLatentSize, name, "config.");
  check_int(c, "image_channels", 1, 3, name, "config.");
  check_int(c, "image_size", 1, 4096, name, "config.");
  for (const char* k : {"bigan", "spectral_norm", "aux_classifier"})
    if (c.contains(k) && !c.at(k).is_boolean())
      bad_field(name, std::string("config.") + k, "is not true or false");
  check_names(c, "attributes", name, "config.");
  check_string(c, "dataset", name, "config.", false);
  if (!j.contains("training") || !j.at("training").is_object())
    bad_field(name, "training", "is missing");
  const auto& t = j.at("training");
  check_int(t, "batch", 1, kMaxBatch, name, "training.");
  if (!t.contains("seed") ||
      !(t.at("seed").is_number_unsigned() ||
        (t.at("seed").is_number_integer() && t.at("seed").get<int64_t>() >= 0)))
    bad_field(name, "training.seed", "is not a non-negative integer");
  for (const char* k : {"lr", "beta1", "beta2"}) check_number(t, k, name, "training.");
  for (const char* k : {"d_lr_scale", "rec_weight", "aux_weight", "prior_weight",
                        "independence_weight", "contrastive_weight", "aux_edit_weight"}) check_number(t, k, name, "training.", false);
  if (t.contains("fit_encoder") && !t.at("fit_encoder").is_boolean())
    bad_field(name, "training.fit_encoder", "is not true or false");
}

// Expected shape and type of every parameter and buffer of a module, by name.
std::map<std::string, std::pair<std::vector<int64_t>, torch::ScalarType>> layout_of(
    const torch::nn::Module& m) {
  std::map<std::string, std::pair<std::vector<int64_t>, torch::ScalarType>> out;
  for (const auto& p : m.named_parameters(true))
    out[p.key()] = {p.value().sizes().vec(), p.value().scalar_type()};
  for (const auto& b : m.named_buffers(true))
    out[b.key()] = {b.value().sizes().vec(), b.value().scalar_type()};
  return out;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t.empty() ? "scalar" : t;
}

// Module::load replaces a tensor by whatever the archive holds, whatever its shape: compare each
// one with what the configuration builds, and refuse non-finite weights (a diverged run).
void check_loaded(
    const torch::nn::Module& m,
    const std::map<std::string, std::pair<std::vector<int64_t>, torch::ScalarType>>& want,
    const std::string& net, const std::string& what) {
  auto check = [&](const std::string& key, const torch::Tensor& t) {
    auto it = want.find(key);
    if (it == want.end()) return;
    if (t.sizes().vec() != it->second.first || t.scalar_type() != it->second.second)
      throw Error(what + ": its weights do not match its configuration (" + net + " " + key +
                  " is " + shape_text(t.sizes().vec()) + ", the configuration needs " +
                  shape_text(it->second.first) + ")");
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      throw Error(what + " holds non-finite weights (NaN or Inf in " + net + " " + key +
                  "): it was saved from a diverged run");
  };
  for (const auto& p : m.named_parameters(true)) check(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) check(b.key(), b.value());
}

nlohmann::json header_json(const CheckpointHeader& h) {
  return {{"format", "ali-explorer checkpoint"},
          {"format_version", h.format_version},
          {"config", h.config},
          {"training", h.options},
          {"step", h.step},
          {"class_names", h.class_names},
          {"extra", h.extra}};
}

}  // namespace

void to_json(nlohmann::json& j, const TrainOptions& o) {
  j = {{"batch", o.batch},
       {"lr", o.lr},
       {"beta1", o.beta1},
       {"beta2", o.beta2},
       {"seed", o.seed},
       {"d_lr_scale", o.d_lr_scale},
       {"rec_weight", o.rec_weight},
       {"aux_weight", o.aux_weight},
       {"prior_weight", o.prior_weight},
       {"independence_weight", o.independence_weight},
       {"contrastive_weight", o.contrastive_weight},
       {"aux_edit_weight", o.aux_edit_weight},
       {"fit_encoder", o.fit_encoder},
       {"weighting", o.weighting},
       {"schedule", o.schedule},
       {"instance_noise", o.instance_noise},
       {"noise_steps", o.noise_steps},
       {"labels", o.labels},
       {"feature_net", o.feature_net},
       {"precision", precision_name(o.precision)}};
}

void from_json(const nlohmann::json& j, TrainOptions& o) {
  o.batch = j.at("batch").get<int>();
  o.lr = j.at("lr").get<double>();
  o.beta1 = j.at("beta1").get<double>();
  o.beta2 = j.at("beta2").get<double>();
  o.seed = j.at("seed").get<uint64_t>();
  o.d_lr_scale = j.value("d_lr_scale", 1.0);
  o.rec_weight = j.value("rec_weight", 0.0);
  o.aux_weight = j.value("aux_weight", 0.0);
  o.prior_weight = j.value("prior_weight", 0.0);
  o.independence_weight = j.value("independence_weight", 0.0);
  o.contrastive_weight = j.value("contrastive_weight", 0.0);
  o.aux_edit_weight = j.value("aux_edit_weight", 0.0);
  o.fit_encoder = j.value("fit_encoder", false);
  o.weighting = j.value("weighting", std::string("uniform"));
  o.schedule = j.value("schedule", std::string("simultaneous"));
  o.instance_noise = j.value("instance_noise", 0.0);
  o.noise_steps = j.value("noise_steps", int64_t(0));
  o.labels = j.value("labels", int64_t(0));
  o.feature_net = j.value("feature_net", std::string());
  o.precision = parse_precision(j.value("precision", std::string("fp32")));
}

void validate_train_options(const TrainOptions& o) {
  auto bad = [](const std::string& what, double v) {
    std::ostringstream t;
    t << v;
    throw Error(what + " (got " + t.str() + ")");
  };
  if (o.batch < 1 || o.batch > kMaxBatch)
    bad("the batch size must be 1.." + std::to_string(kMaxBatch), o.batch);
  if (!std::isfinite(o.lr) || o.lr <= 0) bad("the learning rate must be a finite number > 0", o.lr);
  if (!std::isfinite(o.beta1) || o.beta1 < 0 || o.beta1 >= 1)
    bad("beta1 must be in [0, 1)", o.beta1);
  if (!std::isfinite(o.beta2) || o.beta2 < 0 || o.beta2 >= 1)
    bad("beta2 must be in [0, 1)", o.beta2);
  if (!std::isfinite(o.d_lr_scale) || o.d_lr_scale <= 0)
    bad("the discriminator's learning-rate scale must be a finite number > 0", o.d_lr_scale);
  if (!std::isfinite(o.rec_weight) || o.rec_weight < 0)
    bad("the reconstruction weight must be a finite number >= 0", o.rec_weight);
  if (!std::isfinite(o.aux_weight) || o.aux_weight < 0)
    bad("the auxiliary classifier's weight must be a finite number >= 0", o.aux_weight);
  if (!std::isfinite(o.prior_weight) || o.prior_weight < 0)
    bad("the prior-matching weight must be a finite number >= 0", o.prior_weight);
  if (!std::isfinite(o.independence_weight) || o.independence_weight < 0)
    bad("the independence weight must be a finite number >= 0", o.independence_weight);
  if (!std::isfinite(o.contrastive_weight) || o.contrastive_weight < 0)
    bad("the contrastive weight must be a finite number >= 0", o.contrastive_weight);
  if (!std::isfinite(o.aux_edit_weight) || o.aux_edit_weight < 0)
    bad("the attribute-edit weight must be a finite number >= 0", o.aux_edit_weight);
}

void write_checkpoint_file(const fs::path& path, const CheckpointHeader& header,
                           const std::string& payload) {
  std::string json = header_json(header).dump();
  std::string out(kMagic, sizeof kMagic);
  put<uint32_t>(out, uint32_t(header.format_version));
  put<uint64_t>(out, json.size());
  out += json;
  put<uint64_t>(out, payload.size());
  out += payload;
  put<uint32_t>(out, crc_of(json, payload));

  write_file_atomically(path, out, "checkpoint");
}

CheckpointFile read_checkpoint_file(const fs::path& path) {
  const std::string name = path.string();
  std::string bytes = read_regular_file(path, kMaxCheckpointBytes, "checkpoint");
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == 'K')
    throw Error(name + " is a zip/PyTorch archive, not an ALI checkpoint (.ali)");
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw Error(name + " is not an ALI checkpoint (no ALICKPT signature)");
  const size_t fixed = sizeof kMagic + 4 + 8;
  if (bytes.size() < fixed) throw Error(name + " is truncated (in its header)");
  uint32_t version = get<uint32_t>(bytes, sizeof kMagic);
  if (version > uint32_t(kCheckpointFormatVersion) || version == 0)
    throw Error(name + " has checkpoint format " + std::to_string(version) + "; this build reads " +
                "format " + std::to_string(kCheckpointFormatVersion));
  uint64_t jlen = get<uint64_t>(bytes, sizeof kMagic + 4);
  if (jlen > bytes.size() - fixed) throw Error(name + " is truncated (in its header)");
  if (jlen > kMaxHeaderBytes)
    throw Error(name + " has a malformed header (" + std::to_string(jlen) + " bytes; at most " +
                std::to_string(kMaxHeaderBytes) + ")");
  std::string json = bytes.substr(fixed, jlen);
  size_t at = fixed + jlen;
  if (bytes.size() - at < 8) throw Error(name + " is truncated (before its weights)");
  uint64_t plen = get<uint64_t>(bytes, at);
  at += 8;
  if (plen > bytes.size() - at || bytes.size() - at - plen < 4)
    throw Error(name + " is truncated: " + std::to_string(bytes.size()) + " bytes, expected " +
                std::to_string(at + plen + 4));
  std::string payload = bytes.substr(at, plen);
  if (get<uint32_t>(bytes, at + plen) != crc_of(json, payload))
    throw Error(name + " is corrupt (checksum mismatch)");
  bytes = std::string();

  CheckpointFile f;
  check_json_depth(json, name);
  try {
    auto j = nlohmann::json::parse(json);
    check_header_fields(j, name);
    f.header.format_version = j.at("format_version").get<int>();
    f.header.config = j.at("config").get<ModelConfig>();
    f.header.options = j.at("training").get<TrainOptions>();
    f.header.step = j.at("step").get<int64_t>();
    f.header.class_names = j.value("class_names", std::vector<std::string>{});
    f.header.extra = j.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(name + " has a malformed header (" + e.what() + ")");
  }
  try {
    f.header.config = f.header.config.resolved();  // throws for an unknown arch
    validate_train_options(f.header.options);
  } catch (const Error& e) {
    throw Error(name + " has a malformed header: " + e.what());
  }
  f.payload = std::move(payload);
  return f;
}

CheckpointHeader read_checkpoint_header(const fs::path& path) {
  return read_checkpoint_file(path).header;
}

std::string first_non_finite(const AliModel& m) {
  const std::pair<const char*, const torch::nn::Module*> nets[] = {
      {"encoder", m.encoder.get()},
      {"decoder", m.decoder.get()},
      {"discriminator", m.discriminator.get()}};
  for (const auto& [net, module] : nets) {
    for (const auto& p : module->named_parameters(true))
      if (!torch::isfinite(p.value()).all().item<bool>()) return std::string(net) + " " + p.key();
    for (const auto& b : module->named_buffers(true))
      if (b.value().is_floating_point() && !torch::isfinite(b.value()).all().item<bool>())
        return std::string(net) + " " + b.key();
  }
  return {};
}

void save_networks(const AliModel& m, torch::serialize::OutputArchive& archive) {
  if (std::string bad = first_non_finite(m); !bad.empty())
    throw NonFiniteWeights("the weights hold NaN or Inf (" + bad + "); not saved");
  torch::serialize::OutputArchive e, g, d;
  m.encoder->save(e);
  m.decoder->save(g);
  m.discriminator->save(d);
  archive.write("encoder", e);
  archive.write("decoder", g);
  archive.write("discriminator", d);
}

void load_networks(AliModel& m, torch::serialize::InputArchive& archive, const std::string& what) {
  auto want_e = layout_of(*m.encoder), want_g = layout_of(*m.decoder),
       want_d = layout_of(*m.discriminator);
  try {
    torch::serialize::InputArchive e, g, d;
    archive.read("encoder", e);
    archive.read("decoder", g);
    archive.read("discriminator", d);
    m.encoder->load(e);
    m.decoder->load(g);
    m.discriminator->load(d);
  } catch (const std::exception& e) {
    throw Error(what + ": its weights do not match its configuration (" + describe_exception(e) +
                ")");
  }
  check_loaded(*m.encoder, want_e, "encoder", what);
  check_loaded(*m.decoder, want_g, "decoder", what);
  check_loaded(*m.discriminator, want_d, "discriminator", what);
}

void read_weights_archive(const std::string& payload, const torch::Device& device,
                          torch::serialize::InputArchive& archive, const std::string& what) {
  try {
    archive.load_from(payload.data(), payload.size(), device);
  } catch (const std::exception& e) {
    // LibTorch's importer throws c10::Error and, for its code files, torch::jit::ErrorReport (a
    // std::exception) quoting the file's bytes: keep its first line, printable, short.
    std::string why = describe_exception(e);
    why = why.substr(0, std::min(why.find('\n'), size_t(160)));
    for (char& ch : why)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
    throw Error(what + " has unreadable weights (" + why + ")");
  }
}

void save_model(const fs::path& path, const AliModel& m, const CheckpointHeader& header) {
  torch::serialize::OutputArchive archive;
  save_networks(m, archive);
  std::ostringstream os;
  archive.save_to(os);
  CheckpointHeader h = header;
  h.config = m.config;
  h.extra["weights_only"] = true;
  write_checkpoint_file(path, h, os.str());
}

std::shared_ptr<AliModel> load_model(const fs::path& path, const torch::Device& device,
                                      CheckpointHeader* header_out) {
  CheckpointFile f = read_checkpoint_file(path);
  auto m = std::make_shared<AliModel>(f.header.config);
  torch::serialize::InputArchive archive;
  read_weights_archive(f.payload, device, archive, path.string());
  m->to(device);
  load_networks(*m, archive, path.string());
  m->to(device);
  m->train(false);
  if (header_out) *header_out = std::move(f.header);
  return m;
}

std::shared_ptr<AliModel> average_models(const std::vector<fs::path>& paths,
                                         CheckpointHeader* header_out) {
  if (paths.empty()) throw Error("no models to average");
  torch::NoGradGuard ng;
  // Parameters and floating-point buffers: what is averaged.
  auto averaged = [](AliModel& m) {
    auto t = all_tensors(m, false);
    for (const auto& b : all_tensors(m, true))
      if (b.is_floating_point()) t.push_back(b);
    return t;
  };
  std::shared_ptr<AliModel> m;
  CheckpointHeader first, h;
  std::vector<torch::Tensor> total;  // in double: the sum of many files loses nothing
  nlohmann::json from = nlohmann::json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    m = load_model(paths[i], torch::kCPU, &h);
    if (i == 0)
      first = h;
    else if (auto key = config_difference(first.config, h.config); !key.empty())
      throw Error("cannot average " + paths[i].string() + " with " + paths[0].string() +
                  ": they are different models (" + key + " differs)");
    auto t = averaged(*m);
    for (size_t k = 0; k < t.size(); ++k)
      if (i == 0)
        total.push_back(t[k].to(torch::kDouble));
      else
        total[k].add_(t[k].to(torch::kDouble));
    from.push_back({{"file", paths[i].string()}, {"step", h.step}});
  }
  // The last file's model: its header and integer buffers (BatchNorm's batch counts), the mean.
  auto t = averaged(*m);
  for (size_t k = 0; k < t.size(); ++k) t[k].copy_(total[k].div_(double(paths.size())));
  if (header_out) {
    *header_out = std::move(h);
    if (paths.size() > 1) header_out->extra["averaged_from"] = std::move(from);
  }
  return m;
}

void check_compatible(const ModelConfig& have, const ModelConfig& want, const std::string& what) {
  auto h = have.resolved(), w = want.resolved();
  if (h.arch != w.arch)
    throw Error(what + " was written for arch " + h.arch + ", this model is " + w.arch);
  if (h.nlat != w.nlat)
    throw Error(what + " has latent size " + std::to_string(h.nlat) + ", this model has " +
                std::to_string(w.nlat));
  if (h.image_channels != w.image_channels)
    throw Error(what + " takes " + std::to_string(h.image_channels) + "-channel images, this model " +
                std::to_string(w.image_channels));
  if (h.attributes != w.attributes) throw Error(what + " has other conditioning attributes");
  if (h.bigan != w.bigan) throw Error(what + (h.bigan ? " is a BiGAN" : " is not a BiGAN"));
}

std::string describe_origin(const nlohmann::json& extra) {
  auto it = extra.find("started_from");
  if (!extra.is_object() || it == extra.end() || !it->is_object()) return "";
  std::string from = "fine-tuned from ";
  if (auto f = it->find("file"); f != it->end() && f->is_string())
    from += fs::path(f->get<std::string>()).filename().string();
  else
    from += "another model";
  if (auto k = it->find("step"); k != it->end() && k->is_number_integer())
    from += ", its step " + std::to_string(k->get<int64_t>());
  return from;
}

std::string describe_steps(const CheckpointHeader& header) {
  const std::string origin = describe_origin(header.extra);
  return std::to_string(header.step) + (origin.empty() ? "" : " (" + origin + ")");
}

bool looks_like_checkpoint(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO must not block
  if (fd < 0) return false;
  struct stat st {};
  char b[sizeof kMagic] = {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            ::read(fd, b, sizeof b) == ssize_t(sizeof b) &&
            std::memcmp(b, kMagic, sizeof kMagic) == 0;
  ::close(fd);
  return ok;
}

bool has_checkpoint_extension(const fs::path& path) { return lower_extension(path) == ".ali"; }

}  // namespace ali
