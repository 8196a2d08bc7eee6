// bias + ReLU: a hand case, the CPU twin against a plain loop (f32, and bf16 rounded once at the
// end), NaN propagation, the per-thread function swept over its launch grid for both index types
// and both widths, and the GPU twin equal to the CPU one bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/tensor.h"
#include "kernels/bias_relu.h"
#include "kernels/bias_relu_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

Tensor host_tensor(const std::vector<float>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

Tensor host_bf16(const std::vector<float>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::BF16);
  for (size_t i = 0; i < v.size(); ++i) t.data<bf16>()[i] = float_to_bf16(v[i]);
  return t;
}

TEST(BiasRelu, HandCase) {
  const float x[6] = {-1.f, 0.5f, 2.f, 3.f, -0.25f, -4.f};
  const float b[3] = {0.5f, -1.f, 0.25f};
  float y[6];
  bias_relu_cpu(y, x, b, 2, 3);
  const float want[6] = {0.f, 0.f, 2.25f, 3.5f, 0.f, 0.f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], want[i]) << i;
}

TEST(BiasRelu, CpuMatchesPlainLoopAndKeepsNaN) {
  const int64_t m = 53, c = 7;
  std::vector<float> x = test::random_floats(static_cast<size_t>(m * c), 31, -3.f, 3.f);
  std::vector<float> b = test::random_floats(static_cast<size_t>(c), 32);
  x[10] = std::nanf("");
  std::vector<float> y(x.size());
  bias_relu_cpu(y.data(), x.data(), b.data(), m, c);
  for (int64_t p = 0; p < m; ++p)
    for (int64_t k = 0; k < c; ++k) {
      const size_t i = static_cast<size_t>(p * c + k);
      if (i == 10) {
        EXPECT_TRUE(std::isnan(y[i]));
        continue;
      }
      const float s = x[i] + b[static_cast<size_t>(k)];
      ASSERT_EQ(y[i], s > 0.f ? s : 0.f) << i;
    }
  // bf16: the sum is formed in f32 from the bf16 input, then rounded once.
  Tensor xb = host_bf16(x, {m, c});
  Tensor yb = Tensor::empty({m, c}, DType::BF16);
  bias_relu_cpu(yb.data<bf16>(), xb.data<bf16>(), b.data(), m, c);
  for (int64_t i = 0; i < m * c; ++i) {
    if (i == 10) continue;
    const float s = bf16_to_float(xb.data<bf16>()[i]) + b[static_cast<size_t>(i % c)];
    ASSERT_EQ(yb.data<bf16>()[i].bits, float_to_bf16(s > 0.f ? s : 0.f).bits) << i;
  }
  // In place.
  bias_relu_cpu(x.data(), x.data(), b.data(), m, c);
  for (size_t i = 0; i < x.size(); ++i) {
    if (i == 10) continue;
    ASSERT_EQ(x[i], y[i]) << i;
  }
}

template <typename T>
void sweep_case(int64_t m, int64_t c, bool vec, bool wide_index) {
  std::vector<float> xv = test::random_floats(static_cast<size_t>(m * c), 33, -2.f, 2.f);
  std::vector<float> b = test::random_floats(static_cast<size_t>(c), 34);
  Tensor x = std::is_same<T, float>::value ? host_tensor(xv, {m, c}) : host_bf16(xv, {m, c});
  Tensor want = Tensor::empty({m, c}, x.dtype());
  bias_relu_cpu(want.data<T>(), x.data<T>(), b.data(), m, c);
  Tensor got = Tensor::empty({m, c}, x.dtype());
  std::memset(got.raw(), 0xee, got.nbytes());
  const int64_t units = bias_relu_units<T>(m, c, vec);
  const int64_t blocks = (units + kBiasReluThreads - 1) / kBiasReluThreads;
  test::sweep_grid(blocks, kBiasReluThreads, [&](uint32_t bl, uint32_t t) {
    if (vec && wide_index) bias_relu_thread<T, true, int64_t>(got.data<T>(), x.data<T>(), b.data(), units, c, bl, t);
    else if (vec) bias_relu_thread<T, true, uint32_t>(got.data<T>(), x.data<T>(), b.data(), static_cast<uint32_t>(units), static_cast<uint32_t>(c), bl, t);
    else if (wide_index) bias_relu_thread<T, false, int64_t>(got.data<T>(), x.data<T>(), b.data(), units, c, bl, t);
    else bias_relu_thread<T, false, uint32_t>(got.data<T>(), x.data<T>(), b.data(), static_cast<uint32_t>(units), static_cast<uint32_t>(c), bl, t);
  });
  ASSERT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0)
      << "m=" << m << " c=" << c << " vec=" << vec << " wide=" << wide_index;
}

TEST(BiasRelu, ThreadFunctionSweepMatchesCpu) {
  for (bool wide : {false, true}) {
    sweep_case<float>(1, 3, false, wide);
    sweep_case<float>(37, 5, false, wide);
    sweep_case<float>(37, 8, true, wide);
    sweep_case<float>(301, 64, true, wide);
    sweep_case<bf16>(37, 3, false, wide);
    sweep_case<bf16>(37, 16, true, wide);
    sweep_case<bf16>(301, 64, true, wide);
  }
}

// Equal bits, or NaN on both sides (a GPU returns the canonical NaN, not the input's payload).
::testing::AssertionResult same_values(const Tensor& got, const Tensor& want) {
  for (int64_t i = 0; i < want.numel(); ++i) {
    const bool f32 = want.dtype() == DType::F32;
    const float g = f32 ? got.data<float>()[i] : bf16_to_float(got.data<bf16>()[i]);
    const float w = f32 ? want.data<float>()[i] : bf16_to_float(want.data<bf16>()[i]);
    if (std::isnan(g) && std::isnan(w)) continue;
    if (std::memcmp(&g, &w, sizeof g) != 0)
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", expected " << w;
  }
  return ::testing::AssertionSuccess();
}

TEST(BiasReluGpu, MatchesCpuBitForBit) {
  REQUIRE_CUDA_DEVICE();
  const int64_t shapes[][2] = {{1, 3}, {37, 5}, {1001, 64}, {30 * 7 * 7, 512}, {4099, 8}};
  for (const auto& sh : shapes) {
    const int64_t m = sh[0], c = sh[1];
    std::vector<float> xv = test::random_floats(static_cast<size_t>(m * c), 35, -2.f, 2.f);
    xv[0] = std::nanf("");
    std::vector<float> b = test::random_floats(static_cast<size_t>(c), 36);
    Tensor hb = host_tensor(b, {c});
    Tensor db = to_device(hb, Device::cuda());
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor hx = dt == DType::F32 ? host_tensor(xv, {m, c}) : host_bf16(xv, {m, c});
      Tensor want = Tensor::empty({m, c}, dt);
      bias_relu(want, hx, hb);
      Tensor dx = to_device(hx, Device::cuda());
      Tensor dy = test::poisoned({m, c}, dt, Device::cuda());
      bias_relu(dy, dx, db);
      Tensor got = test::host_copy(dy);
      ASSERT_TRUE(same_values(got, want)) << "m=" << m << " c=" << c << " " << dtype_name(dt);
      bias_relu(dx, dx, db);  // in place
      got = test::host_copy(dx);
      ASSERT_TRUE(same_values(got, want)) << "in place, m=" << m << " c=" << c;
    }
  }
}

}  // namespace
}  // namespace vggtl
