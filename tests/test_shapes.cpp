// Every preset against the reference tables: feature-map sizes, output shapes, BN placement, slopes.
#include <gtest/gtest.h>

#include "ali/error.h"
#include "ali/conv_transpose.h"
#include "ali/models.h"

using namespace ali;

namespace {

// Spatial size after each conv of a stack, by running a tensor through it layer by layer.
std::vector<int64_t> conv_sizes(const std::vector<LayerSpec>& layers, int channels, int size) {
  int out = 0;
  auto seq = make_conv_stack(layers, channels, 0.01f, false, 0, 0, &out);
  seq->eval();
  torch::NoGradGuard ng;
  auto x = torch::zeros({1, channels, size, size});
  std::vector<int64_t> sizes{size};
  for (const auto& m : seq->children()) {
    if (auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(m)) {
      x = c->forward(x);
      sizes.push_back(x.size(2));
    } else if (auto t = std::dynamic_pointer_cast<ali::ConvTranspose2dImpl>(m)) {
      x = t->forward(x);
      sizes.push_back(x.size(2));
    } else if (auto b = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
      x = b->forward(x);
    }
  }
  return sizes;
}

int count_bn(torch::nn::Module& m) {
  int n = 0;
  for (const auto& c : m.modules(false))
    if (std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(c)) ++n;
  return n;
}

std::set<float> slopes(torch::nn::Module& m) {
  std::set<float> s;
  for (const auto& c : m.modules(false))
    if (auto l = std::dynamic_pointer_cast<torch::nn::LeakyReLUImpl>(c))
      s.insert(float(l->options.negative_slope()));
  return s;
}

}  // namespace

TEST(Shapes, SvhnFeatureMapsMatchReference) {
  const ArchSpec& a = arch_preset("svhn32");
  // Reference: 32 -> 28 -> 13 -> 10 -> 4 -> 1 (then the 1x1 convs).
  EXPECT_EQ(conv_sizes(a.encoder, 3, 32), (std::vector<int64_t>{32, 28, 13, 10, 4, 1, 1}));
  EXPECT_EQ(conv_sizes(a.disc_x, 3, 32), (std::vector<int64_t>{32, 28, 13, 10, 4, 1}));
  EXPECT_EQ(conv_sizes(a.decoder, 256, 1), (std::vector<int64_t>{1, 4, 10, 13, 28, 32, 32}));
}

TEST(Shapes, CelebaFeatureMapsMatchReference) {
  const ArchSpec& a = arch_preset("celeba64");
  EXPECT_EQ(conv_sizes(a.encoder, 3, 64), (std::vector<int64_t>{64, 63, 29, 13, 4, 1}));
  EXPECT_EQ(conv_sizes(a.decoder, 256, 1), (std::vector<int64_t>{1, 4, 13, 29, 63, 64}));
}

TEST(Shapes, Fmnist28FeatureMaps) {
  const ArchSpec& a = arch_preset("fmnist28");
  EXPECT_EQ(conv_sizes(a.encoder, 1, 28), (std::vector<int64_t>{28, 24, 11, 8, 3, 1, 1}));
  EXPECT_EQ(conv_sizes(a.decoder, 64, 1), (std::vector<int64_t>{1, 3, 8, 11, 24, 28, 28}));
}

TEST(Shapes, EveryPresetProducesTheRightTensors) {
  for (const auto& name : arch_preset_names()) {
    SCOPED_TRACE(name);
    ModelConfig c;
    c.arch = name;
    AliModel m(c);
    const ModelConfig& r = m.config;
    m.train(true);
    auto x = torch::rand({3, r.image_channels, r.image_size, r.image_size});
    auto enc = m.encoder->forward(x);
    EXPECT_EQ(enc.mu.sizes(), (std::vector<int64_t>{3, r.nlat}));
    EXPECT_EQ(enc.log_sigma.sizes(), (std::vector<int64_t>{3, r.nlat}));
    auto z = torch::randn({3, r.nlat});
    auto g = m.decoder->forward(z);
    EXPECT_EQ(g.sizes(), (std::vector<int64_t>{3, r.image_channels, r.image_size, r.image_size}));
    EXPECT_GE(g.min().item<float>(), 0.0f);
    EXPECT_LE(g.max().item<float>(), 1.0f);
    EXPECT_EQ(m.discriminator->forward(x, z).sizes(), (std::vector<int64_t>{3}));
  }
}

TEST(Shapes, PaperLatentSizesAndSlopes) {
  struct Want {
    const char* arch;
    int nlat;
    double slope;
  };
  for (Want w : {Want{"svhn32", 256, 0.01}, Want{"cifar32", 64, 0.1}, Want{"celeba64", 256, 0.02}}) {
    SCOPED_TRACE(w.arch);
    ModelConfig c;
    c.arch = w.arch;
    AliModel m(c);
    EXPECT_EQ(m.config.nlat, w.nlat);
    EXPECT_EQ(slopes(*m.encoder), std::set<float>{float(w.slope)});
    EXPECT_EQ(slopes(*m.decoder), std::set<float>{float(w.slope)});
  }
}

TEST(Shapes, BatchNormPlacement) {
  ModelConfig c;
  c.arch = "svhn32";
  AliModel svhn(c);
  EXPECT_EQ(count_bn(*svhn.encoder), 6);        // all six convs before the linear head
  EXPECT_EQ(count_bn(*svhn.decoder), 6);        // five transposed + C1-32
  EXPECT_EQ(count_bn(*svhn.discriminator), 4);  // D(x) minus its first conv; D(z), joint: none
  c.arch = "cifar32";
  AliModel cifar(c);
  EXPECT_EQ(count_bn(*cifar.discriminator), 0);  // maxout D has no BN
}

TEST(Shapes, CifarMaxoutHalvesChannels) {
  const ArchSpec& a = arch_preset("cifar32");
  int cx = 0, cz = 0;
  make_conv_stack(a.disc_x, 3, a.slope, true, 0.2f, 0.5f, &cx);
  make_conv_stack(a.disc_z, 64, a.slope, true, 0.2f, 0.5f, &cz);
  EXPECT_EQ(cx + cz, 512);  // the code's joint input: 256 + 256
}

TEST(Shapes, DecoderOutputBiasIsLogOddsOfMeanPixel) {
  ModelConfig c;
  c.arch = "fmnist28";
  AliModel m(c);
  auto images = torch::full({10, 1, 28, 28}, 0.25f);
  m.decoder->init_output_bias(images);
  auto bias = m.decoder->named_parameters()["out_bias"];
  EXPECT_NEAR(bias.mean().item<float>(), std::log(0.25 / 0.75), 1e-5);
}

TEST(Shapes, ConditionalModelsTakeAttributes) {
  for (const char* arch : {"fmnist28", "celeba64"}) {
    ModelConfig c;
    c.arch = arch;
    c.attributes = {"A", "B", "C"};
    AliModel m(c);
    const auto& r = m.config;
    auto x = torch::rand({2, r.image_channels, r.image_size, r.image_size});
    auto y = torch::tensor({{1.f, 0.f, 1.f}, {0.f, 1.f, 0.f}});
    auto enc = m.encoder->forward(x, y);
    EXPECT_EQ(enc.mu.size(1), r.nlat);
    EXPECT_EQ(m.decoder->forward(enc.mu, y).size(0), 2);
    EXPECT_EQ(m.discriminator->forward(x, enc.mu, y).size(0), 2);
    EXPECT_THROW(m.decoder->forward(enc.mu), c10::Error);
  }
}

// The paper's feature protocol: the last hidden layers' activations, then mu. mu is the same as the
// forward pass's, the layers are in order (fmnist28's last three: 128 x 3 x 3, 256, 256) and every
// hidden layer asked for is there; a conditional encoder takes its attributes here as well.
TEST(Shapes, EncoderLayerFeaturesEndInMu) {
  ModelConfig c;
  c.arch = "fmnist28";
  AliModel m(c);
  m.train(false);
  torch::NoGradGuard ng;
  auto x = torch::rand({3, 1, 28, 28});
  auto mu = m.encoder->forward(x).mu;
  auto f = m.encoder->layer_features(x);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{3, 1152 + 256 + 256 + 64}));
  EXPECT_TRUE(torch::allclose(f.narrow(1, f.size(1) - 64, 64), mu));
  EXPECT_EQ(m.encoder->layer_features(x, {}, 1).size(1), 256 + 64);
  // All six: 16 x 24 x 24, 32 x 11 x 11, 64 x 8 x 8, 128 x 3 x 3, 256, 256.
  EXPECT_EQ(m.encoder->layer_features(x, {}, 100).size(1), 9216 + 3872 + 4096 + 1152 + 256 + 256 + 64);
  // Two images give two rows.
  EXPECT_FALSE(torch::allclose(f[0], f[1]));
  c.attributes = {"A", "B"};
  AliModel cm(c);
  cm.train(false);
  auto y = torch::tensor({{1.f, 0.f}, {0.f, 1.f}, {1.f, 1.f}});
  EXPECT_TRUE(torch::allclose(cm.encoder->layer_features(x, y).narrow(1, 1664, 64), cm.encoder->forward(x, y).mu));
  EXPECT_THROW(cm.encoder->layer_features(x), c10::Error);
}

TEST(Shapes, UnknownPresetNamesTheValidOnes) {
  try {
    arch_preset("resnet");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fmnist28"), std::string::npos);
  }
}

TEST(Shapes, WeightsInitialisedAsReleasedCode) {
  ModelConfig c;
  c.arch = "svhn32";
  AliModel m(c);
  for (auto& p : m.encoder->named_parameters()) {
    if (p.value().dim() == 4) EXPECT_NEAR(p.value().std().item<float>(), 0.01f, 0.002f) << p.key();
  }
}

TEST(Shapes, AttributeSweepHoldsCodesAcrossAndAttributesDown) {
  // Seeded: Debian's LibTorch seeds its default generator differently in every process, and some
  // draws of these exaggerated weights saturate both rows alike (it failed once in a full run).
  torch::manual_seed(11);
  ModelConfig c;
  c.arch = "fmnist28";
  c.attributes = {"A", "B", "C"};
  c.attribute_classes = false;  // labels, any on together (a class model refuses {"B", "C"})
  AliModel m(c);
  {
    torch::NoGradGuard ng;  // N(0, 0.01) weights would flatten every output to about the bias
    for (auto& p : m.decoder->parameters())
      if (p.dim() > 1) p.normal_(0, 0.3);
  }
  auto g = attribute_sweep(m, {{"A"}, {"B", "C"}}, 4, 9);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{8, 1, 28, 28}));
  // Row 1 repeats row 0's codes with other attributes: the same column differs between rows.
  EXPECT_FALSE(torch::allclose(g[0], g[4]));
  // The same codes at another batch size: equal up to the kernels' batch-dependent rounding (other
  // codes would differ by tenths; this AMD EPYC's kernels round up to 1.6e-4 apart).
  auto alone = attribute_sweep(m, {{"A"}}, 4, 9);
  EXPECT_LT((alone - g.narrow(0, 0, 4)).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(attribute_sweep(m, {{"Hat"}}, 2, 0), Error);
  ModelConfig plain;
  plain.arch = "fmnist28";
  AliModel u(plain);
  EXPECT_THROW(attribute_sweep(u, {{"A"}}, 2, 0), Error);
}
