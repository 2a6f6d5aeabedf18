// t-SNE, the latent map's layout: it keeps clusters apart that a 2-D linear projection overlays.
#include <gtest/gtest.h>

#include <atomic>

#include "ali/error.h"
#include "ali/pca.h"
#include "ali/tsne.h"
#include "test_util.h"

using namespace ali;

namespace {
// `clusters` groups of `per` points in `dims` dimensions, each around its own axis (orthogonal
// centres 8 apart, unit noise): every 2-D linear projection lays most of them over each other.
std::pair<torch::Tensor, torch::Tensor> orthogonal_clusters(int clusters, int per, int dims) {
  auto labels = torch::arange(clusters).repeat_interleave(per);
  auto centres = torch::eye(clusters, dims) * 8.0f;
  return {centres.index_select(0, labels) + torch::randn({clusters * per, dims}), labels};
}
}  // namespace

TEST(Tsne, KeepsApartClustersThatPcaLaysOverEachOther) {
  torch::manual_seed(11);
  auto [x, labels] = orthogonal_clusters(10, 40, 30);
  auto pca = fit_pca(x, 2).apply(x);
  auto layout = tsne(x);
  ASSERT_EQ(layout.sizes(), (std::vector<int64_t>{400, 2}));
  EXPECT_TRUE(torch::isfinite(layout).all().item<bool>());
  EXPECT_NEAR(layout.mean(0).abs().max().item<float>(), 0.0f, 1e-2f);
  EXPECT_GT(neighbour_agreement(x, labels), 0.99);    // the codes themselves: clusters
  EXPECT_LT(neighbour_agreement(pca, labels), 0.7);   // the linear map overlays them
  EXPECT_GT(neighbour_agreement(layout, labels), 0.97);
  // Deterministic: the same codes, the same picture.
  EXPECT_TRUE(torch::equal(tsne(x), layout));
}

TEST(Tsne, GoesOnFromAnEarlierLayoutWithoutLosingIt) {
  torch::manual_seed(12);
  auto [x, labels] = orthogonal_clusters(5, 30, 12);
  auto first = tsne(x);
  TsneOptions o;
  o.start = first;
  o.exaggeration_iterations = 0;
  o.iterations = 300;
  auto moved = x + 0.05f * torch::randn_like(x);  // the codes a little further into training
  auto next = tsne(moved, o);
  EXPECT_GT(neighbour_agreement(next, labels), 0.97);
  // Moved, not laid out afresh: points stay near where they were, relative to the layout's size.
  double shift = (next - first).norm(2, 1).mean().item<double>();
  double spread = first.norm(2, 1).mean().item<double>();
  EXPECT_LT(shift, 0.25 * spread) << shift << " against " << spread;
}

TEST(Tsne, FewCodesBadCodesAndCancelling) {
  torch::manual_seed(13);
  auto few = tsne(torch::randn({6, 4}));  // perplexity lowered to fit 6 points
  EXPECT_EQ(few.sizes(), (std::vector<int64_t>{6, 2}));
  EXPECT_TRUE(torch::isfinite(few).all().item<bool>());
  EXPECT_THROW(tsne(torch::randn({3, 4})), Error);
  // More rows than its N x N matrices hold in memory: refused before any work.
  EXPECT_NE(test::error_of([] { tsne(torch::zeros({kTsneMaxRows + 1, 2})); }).find("at most 10000 codes"),
            std::string::npos);
  auto bad = torch::randn({10, 4});
  bad[2][1] = NAN;
  EXPECT_THROW(tsne(bad), Error);
  TsneOptions o;
  o.start = torch::zeros({9, 2});
  EXPECT_THROW(tsne(torch::randn({10, 4}), o), Error);
  std::atomic<bool> cancel{true};
  TsneOptions c;
  c.cancel = &cancel;
  EXPECT_FALSE(tsne(torch::randn({10, 4}), c).defined());
}

TEST(Tsne, NeighbourAgreementCountsMajorities) {
  // Two tight pairs far apart, and a fifth point near the first pair but labelled with the second.
  auto p = torch::tensor({{0.f, 0.f}, {0.1f, 0.f}, {10.f, 0.f}, {10.1f, 0.f}, {0.f, 0.2f}});
  auto l = torch::tensor({0, 0, 1, 1, 1});
  // k = 1: points 0-3 find their pair (same label); point 4's nearest is point 0 (label 0): a miss.
  EXPECT_DOUBLE_EQ(neighbour_agreement(p, l, 1), 0.8);
  EXPECT_THROW(neighbour_agreement(p, torch::tensor({0, 1})), Error);
}
