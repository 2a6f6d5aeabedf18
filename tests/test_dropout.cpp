// The hash-mask dropout: the right drop rate and scale, reproducible from the generator, identity in
// evaluation, gradients through the same mask.
#include <gtest/gtest.h>

#include "ali/dropout.h"
#include "ali/error.h"

using namespace ali;

TEST(Dropout, MaskHasTheAskedRateAndScale) {
  for (double p : {0.2, 0.5}) {
    auto m = dropout_mask(torch::empty({200, 16, 24, 24}), p, 42);
    const double dropped = (m == 0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(dropped, p, 0.003) << p;
    auto kept = m.masked_select(m != 0);
    EXPECT_TRUE(torch::allclose(kept, torch::full_like(kept, 1.0 / (1.0 - p)))) << p;
    // Neighbours (the four lanes of one hash) are not correlated.
    auto flat = (m.flatten() == 0).to(torch::kDouble);
    auto a = flat.narrow(0, 0, flat.size(0) - 1), b = flat.narrow(0, 1, flat.size(0) - 1);
    EXPECT_NEAR((a * b).mean().item<double>(), p * p, 0.003) << p;
  }
}

TEST(Dropout, SameSeedSameMaskOtherSeedOtherMask) {
  auto like = torch::empty({1000});
  EXPECT_TRUE(torch::equal(dropout_mask(like, 0.2, 7), dropout_mask(like, 0.2, 7)));
  EXPECT_FALSE(torch::equal(dropout_mask(like, 0.2, 7), dropout_mask(like, 0.2, 8)));
  auto bf = dropout_mask(torch::empty({1000}, torch::kBFloat16), 0.2, 7);
  EXPECT_EQ(bf.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(bf.to(torch::kFloat) == 0, dropout_mask(like, 0.2, 7) == 0));
}

TEST(Dropout, ChannelsLastTensorsGetTheSameMaskStoredChannelsLast) {
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto nchw = torch::empty({3, 5, 7, 6}, dtype);
    auto nhwc = nchw.contiguous(torch::MemoryFormat::ChannelsLast);
    ASSERT_FALSE(nhwc.is_contiguous());
    auto a = dropout_mask(nchw, 0.3, 11), b = dropout_mask(nhwc, 0.3, 11);
    EXPECT_TRUE(a.is_contiguous());
    EXPECT_TRUE(b.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::equal(a, b));  // element by element, whatever the storage order
    EXPECT_GT((a == 0).sum().item<int64_t>(), 0);
  }
}

TEST(Dropout, ModuleFollowsTheGeneratorAndTrainingMode) {
  Dropout d(0.2);
  auto x = torch::randn({64, 32}).requires_grad_();
  torch::manual_seed(5);
  auto y1 = d->forward(x);
  torch::manual_seed(5);
  auto y2 = d->forward(x);
  EXPECT_TRUE(torch::equal(y1, y2));  // reproducible: the seed comes from the default generator
  auto y3 = d->forward(x);
  EXPECT_FALSE(torch::equal(y2, y3));  // and the stream moves on
  y1.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), (y1 != 0).to(torch::kFloat) * 1.25));
  d->eval();
  EXPECT_TRUE(torch::equal(d->forward(x), x));
  EXPECT_THROW(Dropout(1.0), Error);
  EXPECT_THROW(dropout_mask(x, -0.1, 1), Error);
}
