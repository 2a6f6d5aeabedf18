#include <gtest/gtest.h>

#include "ali/latent.h"

using namespace ali;

TEST(Latent, LinearEndpointsAndMidpoint) {
  auto a = torch::tensor({0.f, 2.f}), b = torch::tensor({4.f, -2.f});
  EXPECT_TRUE(torch::allclose(interpolate_linear(a, b, 0), a));
  EXPECT_TRUE(torch::allclose(interpolate_linear(a, b, 1), b));
  EXPECT_TRUE(torch::allclose(interpolate_linear(a, b, 0.5), torch::tensor({2.f, 0.f})));
}

TEST(Latent, SlerpFollowsTheArc) {
  auto a = torch::tensor({1.f, 0.f}), b = torch::tensor({0.f, 1.f});
  EXPECT_TRUE(torch::allclose(interpolate_slerp(a, b, 0), a, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(interpolate_slerp(a, b, 1), b, 1e-5, 1e-6));
  auto mid = interpolate_slerp(a, b, 0.5);
  EXPECT_NEAR(mid.norm().item<float>(), 1.0f, 1e-5);  // linear would give 0.707
  EXPECT_NEAR(mid[0].item<float>(), std::sqrt(0.5f), 1e-5);
  // Parallel endpoints fall back to linear instead of dividing by sin(0).
  auto p = interpolate_slerp(a, a * 2, 0.5);
  EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  EXPECT_TRUE(torch::allclose(p, a * 1.5));
}

TEST(Latent, PathHasStepsRowsFromAToB) {
  auto a = torch::randn({64}), b = torch::randn({64});
  for (bool spherical : {false, true}) {
    auto path = interpolation_path(a, b, 7, spherical);
    EXPECT_EQ(path.sizes(), (std::vector<int64_t>{7, 64}));
    EXPECT_TRUE(torch::allclose(path[0], a, 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(path[6], b, 1e-4, 1e-5));
  }
  EXPECT_THROW(interpolation_path(a, b, 1, false), std::exception);
  EXPECT_THROW(interpolation_path(a, torch::randn({3}), 4, false), std::exception);
}
