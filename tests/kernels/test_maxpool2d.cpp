// 2x2 max-pool: hand cases (including odd H and W, where 'valid' pooling drops the last row and
// column), the CPU twin against a plain loop at awkward sizes, NaN propagation, the per-thread
// function swept over its launch grid, and the GPU twin equal to the CPU one. Backward: the tie
// rule (first maximum in row-major window order) and NaN windows by hand, zeros in the dropped
// row and column, central differences in double, the CPU's bf16 twin equal to the f32 one, the
// per-thread function against the spec, and the GPU equal to the CPU bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "engine/tensor.h"
#include "kernels/maxpool2d.h"
#include "kernels/maxpool2d_thread.h"
#include "support/random_cases.h"
#include "test_util.h"

namespace vggtl {
namespace {

Tensor random_host(const Shape& shape, DType dt, uint64_t seed) {
  return test::random_tensor(shape, seed, -5.f, 5.f, dt);
}

TEST(MaxPool2d, HandCaseEvenAndOdd) {
  // 1x4x4x1: four windows.
  const float x[16] = {1, 2, 0, -1,  //
                       3, 4, 5, -2,  //
                       -1, -3, 7, 8,  //
                       -4, -2, 6, 9};
  float y[4];
  maxpool2d_forward_cpu(y, x, 1, 4, 4, 1);
  EXPECT_EQ(y[0], 4.f);
  EXPECT_EQ(y[1], 5.f);
  EXPECT_EQ(y[2], -1.f);
  EXPECT_EQ(y[3], 9.f);
  // 1x3x5x1: one row of two windows; the large last row and last column are dropped.
  const float z[15] = {1, 2, 3, 4, 100,  //
                       5, 6, 7, 8, 100,  //
                       100, 100, 100, 100, 100};
  float w[2];
  maxpool2d_forward_cpu(w, z, 1, 3, 5, 1);
  EXPECT_EQ(w[0], 6.f);
  EXPECT_EQ(w[1], 8.f);
}

TEST(MaxPool2d, CpuMatchesPlainLoopAtOddSizes) {
  const int64_t n = 3, h = 7, w = 5, c = 3;
  Tensor x = random_host({n, h, w, c}, DType::F32, 41);
  x.data<float>()[((1 * h + 2) * w + 3) * c + 1] = std::nanf("");  // lands in output (1,1,1,1)
  Tensor y = Tensor::empty({n, h / 2, w / 2, c}, DType::F32);
  maxpool2d_forward(y, x);
  const float* xp = x.data<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h / 2; ++i)
      for (int64_t j = 0; j < w / 2; ++j)
        for (int64_t k = 0; k < c; ++k) {
          float m = -INFINITY;
          bool nan = false;
          for (int64_t di = 0; di < 2; ++di)
            for (int64_t dj = 0; dj < 2; ++dj) {
              const float v = xp[((b * h + 2 * i + di) * w + 2 * j + dj) * c + k];
              nan |= std::isnan(v);
              m = std::max(m, v);
            }
          const float got = y.data<float>()[((b * (h / 2) + i) * (w / 2) + j) * c + k];
          if (nan) ASSERT_TRUE(std::isnan(got));
          else ASSERT_EQ(got, m) << b << "," << i << "," << j << "," << k;
        }
}

template <typename T>
void sweep_case(int64_t n, int64_t h, int64_t w, int64_t c, bool vec, bool wide) {
  const DType dt = std::is_same<T, float>::value ? DType::F32 : DType::BF16;
  Tensor x = random_host({n, h, w, c}, dt, 42);
  Tensor want = Tensor::empty({n, h / 2, w / 2, c}, dt), got = Tensor::empty({n, h / 2, w / 2, c}, dt);
  maxpool2d_forward_cpu(want.data<T>(), x.data<T>(), n, h, w, c);
  std::memset(got.raw(), 0xee, got.nbytes());
  const int64_t units = maxpool2d_units<T>(n, h, w, c, vec);
  const int64_t blocks = (units + kMaxPoolThreads - 1) / kMaxPoolThreads;
  test::sweep_grid(blocks, kMaxPoolThreads, [&](uint32_t bl, uint32_t t) {
    T* y = got.data<T>();
    const T* xp = x.data<T>();
    if (vec && wide) maxpool2d_thread<T, true, int64_t>(y, xp, units, h, w, c, bl, t);
    else if (vec) maxpool2d_thread<T, true, uint32_t>(y, xp, static_cast<uint32_t>(units), static_cast<uint32_t>(h), static_cast<uint32_t>(w), static_cast<uint32_t>(c), bl, t);
    else if (wide) maxpool2d_thread<T, false, int64_t>(y, xp, units, h, w, c, bl, t);
    else maxpool2d_thread<T, false, uint32_t>(y, xp, static_cast<uint32_t>(units), static_cast<uint32_t>(h), static_cast<uint32_t>(w), static_cast<uint32_t>(c), bl, t);
  });
  ASSERT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0)
      << n << "x" << h << "x" << w << "x" << c << " vec=" << vec << " wide=" << wide;
}

// The CPU's bf16 path (oneDNN's pooling, all threads) gives the spec's bits: a max is exact.
TEST(MaxPool2d, OnednnBf16MatchesCpuSpecAtOddSizes) {
  uint64_t seed = 70;
  for (auto [n, h, w, c] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 2, 2, 1}, {3, 7, 5, 3}, {2, 9, 14, 64},
                            {5, 28, 28, 33}}) {
    Tensor x = random_host({n, h, w, c}, DType::BF16, seed++);
    Tensor want = Tensor::empty({n, h / 2, w / 2, c}, DType::BF16), got = Tensor::empty({n, h / 2, w / 2, c}, DType::BF16);
    maxpool2d_forward_cpu(want.data<bf16>(), x.data<bf16>(), n, h, w, c);
    std::memset(got.raw(), 0xee, got.nbytes());
    maxpool2d_forward(got, x);  // bf16 on the CPU: oneDNN
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0)
        << n << "x" << h << "x" << w << "x" << c << " (" << maxpool2d_onednn_implementation() << ")";
  }
}

TEST(MaxPool2d, ThreadFunctionSweepMatchesCpu) {
  for (bool wide : {false, true}) {
    sweep_case<float>(1, 2, 2, 1, false, wide);
    sweep_case<float>(3, 7, 5, 3, false, wide);
    sweep_case<float>(2, 9, 6, 8, true, wide);
    sweep_case<float>(1, 28, 28, 64, true, wide);
    sweep_case<bf16>(3, 7, 5, 3, false, wide);
    sweep_case<bf16>(2, 9, 7, 16, true, wide);
    sweep_case<bf16>(1, 14, 14, 512, true, wide);
  }
}

TEST(MaxPool2d, RejectsWrongOutputShape) {
  Tensor x = Tensor::zeros({1, 5, 5, 2}, DType::F32);
  Tensor y = Tensor::empty({1, 3, 3, 2}, DType::F32);
  EXPECT_THROW(maxpool2d_forward(y, x), Error);
}

TEST(MaxPool2dGpu, MatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const int64_t shapes[][4] = {{1, 2, 2, 1}, {3, 7, 5, 3}, {2, 9, 7, 16}, {30, 28, 28, 256}, {1, 225, 223, 64}};
  for (const auto& s : shapes) {
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor x = random_host({s[0], s[1], s[2], s[3]}, dt, 43);
      const Shape out{s[0], s[1] / 2, s[2] / 2, s[3]};
      Tensor want = Tensor::empty(out, dt);
      maxpool2d_forward(want, x);
      Tensor dx = to_device(x, Device::cuda());
      Tensor dy = test::poisoned(out, dt, Device::cuda());
      maxpool2d_forward(dy, dx);
      Tensor got = test::host_copy(dy);
      // The maximum is one of the inputs: exact equality.
      ASSERT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << x.str() << " " << dtype_name(dt);
    }
  }
}

// ---- Backward ----

TEST(MaxPool2dBackward, TiesGoToTheFirstMaximumAndOddEdgesGetZero) {
  // 1x3x5x1: two windows and a dropped last row and column. Window 0 is all 2s (a four-way tie:
  // (0,0) takes it); window 1 ties 8 at (0,1) and (1,0) of the window: (0,1) comes first.
  const float x[15] = {2, 2, 1, 8, 100,  //
                       2, 2, 8, 3, 100,  //
                       100, 100, 100, 100, 100};
  const float dy[2] = {10, 20};
  float dx[15];
  std::fill(dx, dx + 15, -1.f);
  maxpool2d_backward_cpu(dx, dy, x, 1, 3, 5, 1);
  const float want[15] = {10, 0, 0, 20, 0,  //
                          0, 0, 0, 0, 0,  //
                          0, 0, 0, 0, 0};
  for (int i = 0; i < 15; ++i) EXPECT_EQ(dx[i], want[i]) << i;
}

TEST(MaxPool2dBackward, NanWindowSendsItToItsFirstNan) {
  const float nan = std::nanf("");
  const float x[8] = {1, 5, nan, 9,  //
                      nan, 3, 0, nan};
  const float dy[2] = {10, 20};
  float dx[8];
  maxpool2d_backward_cpu(dx, dy, x, 1, 2, 4, 1);
  const float want[8] = {0, 0, 20, 0,  //
                         10, 0, 0, 0};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dx[i], want[i]) << i;
}

// L = sum r * maxpool(x) for distinct values (no ties, so L is smooth at x): central differences.
TEST(MaxPool2dBackward, MatchesCentralDifferencesInDouble) {
  const int64_t shapes[][4] = {{1, 5, 7, 3}, {2, 4, 4, 1}, {3, 7, 5, 2}};
  for (const auto& sh : shapes) {
    const int64_t n = sh[0], h = sh[1], w = sh[2], c = sh[3];
    const Shape xs{n, h, w, c}, ys{n, h / 2, w / 2, c};
    std::vector<double> x = test::random_doubles(static_cast<size_t>(xs.numel()), 60, -3, 3);
    // Distinct by construction: a small ramp on top of the random values.
    for (size_t i = 0; i < x.size(); ++i) x[i] += 1e-2 * static_cast<double>(i % 97);
    const std::vector<double> r = test::random_doubles(static_cast<size_t>(ys.numel()), 61);
    std::vector<double> y(r.size()), dx(x.size(), -1.0);
    auto loss = [&] {
      maxpool2d_forward_cpu(y.data(), x.data(), n, h, w, c);
      double sum = 0;
      for (size_t i = 0; i < y.size(); ++i) sum += r[i] * y[i];
      return sum;
    };
    maxpool2d_backward_cpu(dx.data(), r.data(), x.data(), n, h, w, c);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double x0 = x[i], step = 1e-6;
      x[i] = x0 + step;
      const double plus = loss();
      x[i] = x0 - step;
      const double minus = loss();
      x[i] = x0;
      worst = test::worst_error(worst, std::fabs((plus - minus) / (2 * step) - dx[i]));
    }
    EXPECT_LT(worst, 1e-8) << n << "x" << h << "x" << w << "x" << c;
  }
}

// The CPU's bf16 backward (bf16 fine-tuning) against the f32 twin on the same values: the same
// bits (selection is exact), ties and NaN windows included, through the tensor-level dispatch.
TEST(MaxPool2dBackward, Bf16MatchesF32TwinAtOddSizes) {
  uint64_t seed = 80;
  for (auto [n, h, w, c] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 2, 2, 1}, {3, 7, 5, 3}, {2, 9, 14, 64},
                            {2, 28, 27, 33}}) {
    const int64_t total = n * h * w * c, outs = n * (h / 2) * (w / 2) * c;
    // Values on a coarse grid, so that many windows tie; one NaN.
    std::vector<float> xf = test::random_floats(static_cast<size_t>(total), seed++, -2.f, 2.f);
    for (float& v : xf) v = std::round(v * 2.f) / 2.f;
    if (total > 5 * c) xf[static_cast<size_t>(5 * c)] = std::nanf("");
    std::vector<float> dyf = test::random_floats(static_cast<size_t>(outs), seed++);
    Tensor x = Tensor::empty({n, h, w, c}, DType::BF16), dy = Tensor::empty({n, h / 2, w / 2, c}, DType::BF16);
    for (int64_t i = 0; i < total; ++i) x.data<bf16>()[i] = float_to_bf16(xf[static_cast<size_t>(i)]);
    for (int64_t i = 0; i < outs; ++i) {
      dy.data<bf16>()[i] = float_to_bf16(dyf[static_cast<size_t>(i)]);
      dyf[static_cast<size_t>(i)] = bf16_to_float(dy.data<bf16>()[i]);
    }
    std::vector<float> want(static_cast<size_t>(total));
    maxpool2d_backward_cpu(want.data(), dyf.data(), xf.data(), n, h, w, c);
    Tensor dx = Tensor::empty({n, h, w, c}, DType::BF16);
    std::memset(dx.raw(), 0xee, dx.nbytes());
    maxpool2d_backward(dx, dy, x);
    std::vector<float> got(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) got[static_cast<size_t>(i)] = bf16_to_float(dx.data<bf16>()[i]);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << n << "x" << h << "x" << w
                                                                                      << "x" << c;
  }
}

TEST(MaxPool2dBackward, ThreadFunctionSweepMatchesCpu) {
  const int64_t shapes[][4] = {{1, 2, 2, 1}, {3, 7, 5, 3}, {2, 9, 6, 8}, {1, 14, 14, 64}};
  for (const auto& sh : shapes) {
    const int64_t n = sh[0], h = sh[1], w = sh[2], c = sh[3];
    const int64_t total = n * h * w * c;
    Tensor x = random_host({n, h, w, c}, DType::F32, 44);
    // Ties and a NaN, so that the rule is swept too.
    x.data<float>()[0] = x.data<float>()[c];
    if (total > 5 * c) x.data<float>()[5 * c] = std::nanf("");
    const std::vector<float> dy = test::random_floats(static_cast<size_t>(n * (h / 2) * (w / 2) * c), 45);
    std::vector<float> want(static_cast<size_t>(total)), got(static_cast<size_t>(total + 64), 12345.f);
    maxpool2d_backward_cpu(want.data(), dy.data(), x.data<float>(), n, h, w, c);
    test::sweep_grid((total + kMaxPoolBackwardThreads - 1) / kMaxPoolBackwardThreads, kMaxPoolBackwardThreads,
                     [&](uint32_t b, uint32_t t) {
                       maxpool2d_backward_thread(got.data(), dy.data(), x.data<float>(), n, h, w, c, b, t);
                     });
    ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << n << "x" << h << "x" << w
                                                                                      << "x" << c;
    EXPECT_EQ(test::overwritten(got, static_cast<size_t>(total), 12345.f), 0);
  }
}

TEST(MaxPool2dBackwardGpu, MatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const int64_t shapes[][4] = {{1, 2, 2, 1}, {3, 7, 5, 3}, {2, 9, 7, 16}, {30, 28, 28, 512}};
  for (const auto& s : shapes) {
    Tensor x = random_host({s[0], s[1], s[2], s[3]}, DType::F32, 46);
    x.data<float>()[0] = x.data<float>()[s[3]];  // a tie
    const Shape out{s[0], s[1] / 2, s[2] / 2, s[3]};
    Tensor dy = random_host(out, DType::F32, 47);
    Tensor want = Tensor::empty(x.shape(), DType::F32);
    maxpool2d_backward(want, dy, x);
    Tensor gx = to_device(x, Device::cuda()), gdy = to_device(dy, Device::cuda());
    Tensor gdx = test::poisoned(x.shape(), DType::F32, Device::cuda());
    maxpool2d_backward(gdx, gdy, gx);
    Tensor got = test::host_copy(gdx);
    ASSERT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << x.str();
  }
}

}  // namespace
}  // namespace vggtl
