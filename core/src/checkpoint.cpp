#include "ali/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "ali/error.h"

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
  o.weighting = j.value("weighting", std::string("uniform"));
  o.schedule = j.value("schedule", std::string("simultaneous"));
  o.instance_noise = j.value("instance_noise", 0.0);
  o.noise_steps = j.value("noise_steps", int64_t(0));
  o.labels = j.value("labels", int64_t(0));
  o.feature_net = j.value("feature_net", std::string());
  o.precision = parse_precision(j.value("precision", std::string("fp32")));
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

  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error("cannot write checkpoint " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = std::strerror(errno);
      ::close(fd);
      fs::remove(tmp);
      throw Error("cannot write checkpoint " + path.string() + ": " + why);
    }
    done += size_t(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    fs::remove(tmp);
    throw Error("cannot flush checkpoint " + path.string());
  }
  fs::rename(tmp, path);  // atomic: readers see the old file or the new one
}

CheckpointFile read_checkpoint_file(const fs::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("checkpoint " + name + " does not exist");
  if (fs::is_directory(path, ec)) throw Error(name + " is a folder, not a checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open checkpoint " + name);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

  CheckpointFile f;
  try {
    auto j = nlohmann::json::parse(json);
    f.header.format_version = j.at("format_version").get<int>();
    f.header.config = j.at("config").get<ModelConfig>();
    f.header.options = j.at("training").get<TrainOptions>();
    f.header.step = j.at("step").get<int64_t>();
    f.header.class_names = j.value("class_names", std::vector<std::string>{});
    f.header.extra = j.value("extra", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(name + " has a malformed header (" + e.what() + ")");
  }
  f.header.config = f.header.config.resolved();  // throws for an unknown arch
  f.payload = std::move(payload);
  return f;
}

CheckpointHeader read_checkpoint_header(const fs::path& path) {
  return read_checkpoint_file(path).header;
}

void save_networks(const AliModel& m, torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive e, g, d;
  m.encoder->save(e);
  m.decoder->save(g);
  m.discriminator->save(d);
  archive.write("encoder", e);
  archive.write("decoder", g);
  archive.write("discriminator", d);
}

void load_networks(AliModel& m, torch::serialize::InputArchive& archive, const std::string& what) {
  try {
    torch::serialize::InputArchive e, g, d;
    archive.read("encoder", e);
    archive.read("decoder", g);
    archive.read("discriminator", d);
    m.encoder->load(e);
    m.decoder->load(g);
    m.discriminator->load(d);
  } catch (const c10::Error& e) {
    throw Error(what + ": its weights do not match its configuration (" +
                e.what_without_backtrace() + ")");
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
  try {
    archive.load_from(f.payload.data(), f.payload.size(), device);
  } catch (const c10::Error& e) {
    throw Error(path.string() + " has unreadable weights (" + e.what_without_backtrace() + ")");
  }
  m->to(device);
  load_networks(*m, archive, path.string());
  m->to(device);
  m->train(false);
  if (header_out) *header_out = std::move(f.header);
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

bool looks_like_checkpoint(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char b[sizeof kMagic] = {};
  return in.read(b, sizeof b) && std::memcmp(b, kMagic, sizeof kMagic) == 0;
}

}  // namespace ali
