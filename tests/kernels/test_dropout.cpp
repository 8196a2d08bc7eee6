// Dropout: the mask is the documented Philox draw, the CUDA thread function (four elements per
// Philox block) reproduces it bit for bit over its launch grid, the drop rate is right within a
// stated bound, steps and layer offsets draw different masks, and the GPU keeps exactly the
// elements the CPU keeps.
#include <cmath>
#include <vector>

#include "engine/philox.h"
#include "kernels/dropout.h"
#include "kernels/dropout_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(DropoutCpu, FollowsThePhiloxDefinition) {
  const int64_t n = 1000;
  const std::vector<double> x =
      test::random_doubles(n, 1, 0.5, 1.5);  // never 0, so zeros are drops
  std::vector<double> y(n);
  const uint64_t seed = 1234, offset = uint64_t{3} << 40;
  dropout_cpu(y.data(), x.data(), n, 0.3f, seed, 17, offset);
  for (int64_t i = 0; i < n; ++i) {
    const float u = philox_uniform(seed, kRngDropout, 17, offset + i);
    if (u >= 0.3f) {
      EXPECT_EQ(y[i], x[i] * (1.0 / (1.0 - static_cast<double>(0.3f)))) << i;
    } else {
      EXPECT_EQ(y[i], 0.0) << i;
    }
  }
}

TEST(DropoutCpu, RateZeroIsIdentityAndHalfDoubles) {
  const std::vector<float> x = test::random_floats(64, 2);
  std::vector<float> y(64);
  dropout_cpu(y.data(), x.data(), 64, 0.f, 5, 0, 0);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(y[i], x[i]);
  dropout_cpu(y.data(), x.data(), 64, 0.5f, 5, 0, 0);
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(y[i] == 0.f || y[i] == 2.f * x[i]);
}

TEST(DropoutCpu, DropRateIsRight) {
  // Kept fraction of n draws: binomial, standard deviation sqrt(p(1-p)/n); allow 5 of them.
  const int64_t n = 200000;
  const std::vector<float> x(n, 1.f);
  std::vector<float> y(n);
  for (float rate : {0.1f, 0.5f, 0.9f}) {
    dropout_cpu(y.data(), x.data(), n, rate, 99, 3, 0);
    int64_t kept = 0;
    for (float v : y) kept += v != 0.f;
    const double p = 1.0 - rate;
    const double bound = 5 * std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(static_cast<double>(kept) / n, p, bound) << "rate " << rate;
  }
}

TEST(DropoutCpu, StepsAndOffsetsDrawDifferentMasks) {
  const int64_t n = 4096;
  const std::vector<float> x(n, 1.f);
  std::vector<float> a(n), b(n), c(n);
  dropout_cpu(a.data(), x.data(), n, 0.5f, 7, 0, 0);
  dropout_cpu(b.data(), x.data(), n, 0.5f, 7, 1, 0);
  dropout_cpu(c.data(), x.data(), n, 0.5f, 7, 0, uint64_t{1} << 40);
  int64_t diff_step = 0, diff_offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff_step += a[i] != b[i];
    diff_offset += a[i] != c[i];
  }
  // Independent masks at rate 0.5 disagree on half the elements (sd 32 here).
  EXPECT_NEAR(diff_step, n / 2, 200);
  EXPECT_NEAR(diff_offset, n / 2, 200);
}

TEST(DropoutCpu, ThreadSweepMatchesSpecificationBitForBit) {
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{1920}, int64_t{4099}}) {
    for (uint64_t offset : {uint64_t{0}, uint64_t{4} << 40, uint64_t{12}}) {
      const std::vector<float> x = test::random_floats(n, 4);
      std::vector<float> spec(n), swept(n, std::nanf(""));
      dropout_cpu(spec.data(), x.data(), n, 0.5f, 42, 9, offset);
      const int64_t blocks = ((n + 3) / 4 + kDropoutThreads - 1) / kDropoutThreads;
      for (int64_t b = 0; b < blocks; ++b)
        for (int t = 0; t < kDropoutThreads; ++t)
          dropout_thread(swept.data(), x.data(), n, 0.5f, static_cast<float>(dropout_scale(0.5f)),
                         42, 9, offset, b, t);
      EXPECT_TRUE(test::within(test::compare(swept.data(), spec.data(), n), 0.0))
          << n << " " << offset;
    }
  }
}

TEST(DropoutCpu, TensorLevelRejectsBadArguments) {
  Tensor x = Tensor::empty({8}, DType::F32), y = Tensor::empty({8}, DType::F32);
  EXPECT_THROW(dropout(y, x, 1.f, 0, 0, 0), Error);
  EXPECT_THROW(dropout(y, x, 0.5f, 0, 0, 2), Error);
}

TEST(DropoutGpu, SameMaskAsCpuBitForBit) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1920}, int64_t{100001}}) {
    Tensor x = Tensor::empty({n}, DType::F32);
    const std::vector<float> xv = test::random_floats(n, 6);
    std::copy(xv.begin(), xv.end(), x.data<float>());
    Tensor y = Tensor::empty({n}, DType::F32);
    dropout(y, x, 0.5f, 77, 5, uint64_t{4} << 40);
    Tensor gx = to_device(x, Device::cuda());
    Tensor gy = test::poisoned({n}, DType::F32, Device::cuda());
    dropout(gy, gx, 0.5f, 77, 5, uint64_t{4} << 40);
    Tensor back = test::host_copy(gy);
    EXPECT_TRUE(test::within(test::compare(back.data<float>(), y.data<float>(), n), 0.0)) << n;
  }
}

TEST(DropoutGpu, DropRateIsRight) {
  REQUIRE_CUDA_DEVICE();
  // As on the CPU: the kept fraction within 5 binomial standard deviations of 1 - rate.
  const int64_t n = 1 << 22;
  Tensor ones = Tensor::empty({n}, DType::F32);
  for (int64_t i = 0; i < n; ++i) ones.data<float>()[i] = 1.f;
  Tensor gx = to_device(ones, Device::cuda());
  for (float rate : {0.1f, 0.5f, 0.9f}) {
    Tensor gy = test::poisoned({n}, DType::F32, Device::cuda());
    dropout(gy, gx, rate, 123, 0, 0);
    Tensor y = test::host_copy(gy);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) kept += y.data<float>()[i] != 0.f;
    const double p = 1.0 - rate;
    EXPECT_NEAR(static_cast<double>(kept) / n, p, 5 * std::sqrt(p * (1 - p) / n)) << rate;
  }
}

}  // namespace
}  // namespace vggtl
