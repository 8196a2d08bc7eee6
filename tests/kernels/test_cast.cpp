// Type conversion: known bf16 roundings (ties to even, NaN), f32 <-> f64, the CUDA thread
// functions swept over their grid, GPU against CPU (exact).
#include <cmath>
#include <vector>

#include "kernels/cast.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(CastCpu, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even gives 1.0;
  // 1 + 3*2^-8 is halfway between 1.0078125 and 1.015625: to even gives 1.015625;
  // FLT_MAX is beyond bf16's largest finite value and rounds to infinity.
  const float x[] = {1.0f,  1.0f + 1.0f / 256, 1.0f + 3.0f / 256,
                     -2.5f, std::nanf(""),     3.4028235e38f};
  bf16 y[6];
  cast_f32_to_bf16_cpu(y, x, 6);
  float back[6];
  cast_bf16_to_f32_cpu(back, y, 6);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 1.0f);
  EXPECT_EQ(back[2], 1.015625f);
  EXPECT_EQ(back[3], -2.5f);
  EXPECT_TRUE(std::isnan(back[4]));
  EXPECT_TRUE(std::isinf(back[5]));  // FLT_MAX rounds up past bf16's largest finite value
}

TEST(CastCpu, TensorLevelConversions) {
  Tensor f = Tensor::empty({3}, DType::F32);
  f.data<float>()[0] = 0.1f;
  f.data<float>()[1] = -7.f;
  f.data<float>()[2] = 3.25f;
  Tensor d = Tensor::empty({3}, DType::F64), f2 = Tensor::empty({3}, DType::F32);
  cast(d, f);
  cast(f2, d);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d.data<double>()[i], static_cast<double>(f.data<float>()[i]));
    EXPECT_EQ(f2.data<float>()[i], f.data<float>()[i]);
  }
  Tensor b = Tensor::empty({3}, DType::BF16);
  cast(b, f);
  cast(f2, b);
  EXPECT_EQ(f2.data<float>()[1], -7.f);
  Tensor i32 = Tensor::empty({3}, DType::I32);
  EXPECT_THROW(cast(i32, f), Error);
}

TEST(CastCpu, ThreadSweepMatchesSpecification) {
  const int64_t n = 1037;
  const std::vector<float> x = test::random_floats(n, 1, -100, 100);
  std::vector<bf16> spec(n), swept(n);
  cast_f32_to_bf16_cpu(spec.data(), x.data(), n);
  const int64_t blocks = (n + kCastThreads - 1) / kCastThreads;
  for (int64_t b = 0; b < blocks; ++b)
    for (int t = 0; t < kCastThreads; ++t) cast_f32_to_bf16_thread(swept.data(), x.data(), n, b, t);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(swept[i].bits, spec[i].bits) << i;
  std::vector<float> back(n), sback(n, std::nanf(""));
  cast_bf16_to_f32_cpu(back.data(), spec.data(), n);
  for (int64_t b = 0; b < blocks; ++b)
    for (int t = 0; t < kCastThreads; ++t)
      cast_bf16_to_f32_thread(sback.data(), spec.data(), n, b, t);
  EXPECT_TRUE(test::within(test::compare(sback.data(), back.data(), n), 0.0));
  // bf16 keeps 8 significant bits: rounding error at most half a unit, 2^-8 relative.
  for (int64_t i = 0; i < n; ++i) ASSERT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) / 256) << i;
}

TEST(CastGpu, MatchesCpuExactly) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{25088 * 3 + 1}}) {
    Tensor f = Tensor::empty({n}, DType::F32);
    const std::vector<float> v = test::random_floats(n, 2, -50, 50);
    std::copy(v.begin(), v.end(), f.data<float>());
    Tensor b = Tensor::empty({n}, DType::BF16), f2 = Tensor::empty({n}, DType::F32);
    cast(b, f);
    cast(f2, b);
    Tensor gf = to_device(f, Device::cuda());
    Tensor gb = test::poisoned({n}, DType::BF16, Device::cuda());
    Tensor gf2 = test::poisoned({n}, DType::F32, Device::cuda());
    cast(gb, gf);
    cast(gf2, gb);
    Tensor hb = test::host_copy(gb);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hb.data<bf16>()[i].bits, b.data<bf16>()[i].bits) << i;
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gf2).data<float>(), f2.data<float>(), n), 0.0));
  }
}

}  // namespace
}  // namespace vggtl
