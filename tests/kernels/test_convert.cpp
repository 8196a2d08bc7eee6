// Conversions: f32 -> bf16 rounding (nearest, ties to even) against an independent reference
// that picks the nearer of the two neighbouring bf16 values in double; channel padding and the
// Keras -> KRSC filter transform against plain loops; every per-thread function swept over its
// launch grid on the CPU; the GPU twins equal to the CPU ones bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/tensor.h"
#include "kernels/convert.h"
#include "kernels/convert_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

double value_of_bf16_bits(uint32_t hi16) {
  if ((hi16 & 0x7fffu) == 0x7f80u) return (hi16 & 0x8000u) ? -std::ldexp(1.0, 128) : std::ldexp(1.0, 128);
  float f;
  const uint32_t u = hi16 << 16;
  std::memcpy(&f, &u, 4);
  return f;
}

// The bf16 nearest to f, ties to the even mantissa, found by comparing distances in double.
// Overflow past the largest bf16 gives infinity, as IEEE rounding does.
uint16_t reference_bf16(float f) {
  if (std::isnan(f)) return 0x7fc0;
  const uint32_t u = bits_of(f);
  const uint32_t lo = u >> 16;  // truncation towards zero
  if ((u & 0xffffu) == 0) return static_cast<uint16_t>(lo);
  const uint32_t hi = lo + 1;  // next away from zero (may be infinity)
  const double x = std::fabs(static_cast<double>(f));
  const double dl = x - std::fabs(value_of_bf16_bits(lo)), dh = std::fabs(value_of_bf16_bits(hi)) - x;
  if (dl < dh) return static_cast<uint16_t>(lo);
  if (dh < dl) return static_cast<uint16_t>(hi);
  return static_cast<uint16_t>((lo & 1u) ? hi : lo);
}

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]);
  return r;
}

TEST(Convert, Bf16RoundsToNearestEven) {
  // Hand cases: the spacing of bf16 at 1 is 2^-7.
  EXPECT_EQ(float_to_bf16(1.0f).bits, 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);      // tie -> even (down)
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);  // tie -> even (up)
  EXPECT_EQ(float_to_bf16(1.0f + 5 * std::ldexp(1.0f, -9)).bits, 0x3f81);  // nearer the odd one
  EXPECT_EQ(float_to_bf16(-2.5f).bits, 0xc020);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()).bits, 0x7f80);  // overflows to inf
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  // The same rule over many values, subnormals and huge ones included.
  std::vector<float> v = test::random_floats(20000, 11, -4.f, 4.f);
  for (int e = -140; e <= 127; e += 3) {
    v.push_back(std::ldexp(1.37f, e));
    v.push_back(-std::ldexp(1.0f + std::ldexp(1.0f, -8), e));
  }
  std::vector<bf16> got(v.size());
  convert_cpu(got.data(), v.data(), static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(got[i].bits, reference_bf16(v[i])) << "value " << v[i];
}

TEST(Convert, Bf16ToF32IsExactAndRoundTrips) {
  std::vector<float> v = test::random_floats(1000, 12, -100.f, 100.f);
  std::vector<bf16> h = to_bf16(v);
  std::vector<float> back(v.size());
  convert_cpu(back.data(), h.data(), static_cast<int64_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(bits_of(back[i]), static_cast<uint32_t>(h[i].bits) << 16);
    ASSERT_LE(std::fabs(back[i] - v[i]), std::ldexp(std::fabs(v[i]), -8)) << i;  // half an ulp of 8 bits
  }
}

TEST(Convert, F64OnTheCpuAndEqualTypesCopy) {
  Tensor f = Tensor::empty({3}, DType::F32), d = Tensor::empty({3}, DType::F64);
  f.data<float>()[0] = 1.5f;
  f.data<float>()[1] = -0.1f;
  f.data<float>()[2] = 3e38f;
  convert(d, f);
  EXPECT_EQ(d.data<double>()[1], static_cast<double>(-0.1f));  // widening is exact
  d.data<double>()[0] = 1.0 + 1e-12;                           // narrowing rounds to nearest
  Tensor back = Tensor::empty({3}, DType::F32);
  convert(back, d);
  EXPECT_EQ(back.data<float>()[0], 1.0f);
  EXPECT_EQ(back.data<float>()[2], 3e38f);
  Tensor same = Tensor::empty({3}, DType::F64);
  convert(same, d);
  EXPECT_EQ(same.data<double>()[0], 1.0 + 1e-12);
  Tensor b = Tensor::empty({3}, DType::BF16);
  EXPECT_THROW(convert(b, d), Error);  // no f64 <-> bf16 path
  Tensor wrong = Tensor::empty({4}, DType::F32);
  EXPECT_THROW(convert(wrong, d), Error);
}

TEST(Convert, ThreadFunctionSweepMatchesCpu) {
  for (int64_t n : {1, 7, 8, 9, 2048, 2051}) {
    // Host tensors are 64-byte aligned, as the vector path needs.
    Tensor x = Tensor::empty({n}, DType::F32);
    std::vector<float> v = test::random_floats(static_cast<size_t>(n), 13);
    std::memcpy(x.raw(), v.data(), v.size() * sizeof(float));
    std::vector<bf16> expected(static_cast<size_t>(n));
    convert_cpu(expected.data(), v.data(), n);
    for (bool vec : {true, false}) {
      Tensor y = Tensor::empty({n}, DType::BF16);
      std::memset(y.raw(), 0xee, y.nbytes());
      test::sweep_grid(convert_blocks(n), kConvertThreads,
            [&](uint32_t b, uint32_t t) { convert_thread(y.data<bf16>(), x.data<float>(), n, vec, b, t); });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(y.data<bf16>()[i].bits, expected[i].bits) << "n=" << n << " vec=" << vec << " i=" << i;
      Tensor back = Tensor::empty({n}, DType::F32);
      test::sweep_grid(convert_blocks(n), kConvertThreads,
            [&](uint32_t b, uint32_t t) { convert_thread(back.data<float>(), y.data<bf16>(), n, vec, b, t); });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back.data<float>()[i], bf16_to_float(expected[i])) << i;
    }
  }
}

TEST(Convert, PadChannelsMatchesPlainLoop) {
  const int64_t m = 37;
  for (int64_t c : {1, 3, 5}) {
    for (int64_t cp : {c, int64_t{4}, int64_t{8}, int64_t{9}}) {
      if (cp < c) continue;
      std::vector<float> x = test::random_floats(static_cast<size_t>(m * c), 14);
      std::vector<float> yf(static_cast<size_t>(m * cp), -7.f);
      std::vector<bf16> yb(static_cast<size_t>(m * cp), bf16{0xdead});
      pad_channels_cpu(yf.data(), x.data(), m, c, cp);
      pad_channels_cpu(yb.data(), x.data(), m, c, cp);
      for (int64_t p = 0; p < m; ++p)
        for (int64_t k = 0; k < cp; ++k) {
          const float want = k < c ? x[p * c + k] : 0.f;
          ASSERT_EQ(yf[p * cp + k], want) << p << "," << k;
          ASSERT_EQ(yb[p * cp + k].bits, reference_bf16(want)) << p << "," << k;
        }
      // The per-thread function, vector path where the width allows, against the CPU twin.
      for (bool vec : {false, cp % 8 == 0}) {
        Tensor ya = Tensor::empty({m * cp}, DType::BF16);
        test::sweep_grid(pad_channels_blocks(m), kConvertThreads,
              [&](uint32_t b, uint32_t t) { pad_channels_thread(ya.data<bf16>(), x.data(), m, c, cp, vec, b, t); });
        for (int64_t i = 0; i < m * cp; ++i)
          ASSERT_EQ(ya.data<bf16>()[i].bits, yb[i].bits) << "vec=" << vec << " i=" << i;
      }
      for (bool vec : {false, cp % 4 == 0}) {
        Tensor ya = Tensor::empty({m * cp}, DType::F32);
        test::sweep_grid(pad_channels_blocks(m), kConvertThreads,
              [&](uint32_t b, uint32_t t) { pad_channels_thread(ya.data<float>(), x.data(), m, c, cp, vec, b, t); });
        for (int64_t i = 0; i < m * cp; ++i) ASSERT_EQ(ya.data<float>()[i], yf[i]) << "vec=" << vec << " i=" << i;
      }
    }
  }
}

TEST(Convert, HwioToKrscMatchesPlainLoop) {
  const int64_t r = 3, s = 3, c = 3, k = 5, cp = 8;
  std::vector<float> w = test::random_floats(static_cast<size_t>(r * s * c * k), 15);
  std::vector<float> y(static_cast<size_t>(k * r * s * cp), -7.f);
  hwio_to_krsc_cpu(y.data(), w.data(), r, s, c, k, cp);
  // Element (ko, ri, si, ci) of the cuDNN filter is Keras's w[ri][si][ci][ko], zero past c.
  for (int64_t ko = 0; ko < k; ++ko)
    for (int64_t ri = 0; ri < r; ++ri)
      for (int64_t si = 0; si < s; ++si)
        for (int64_t ci = 0; ci < cp; ++ci) {
          const float want = ci < c ? w[static_cast<size_t>(((ri * s + si) * c + ci) * k + ko)] : 0.f;
          ASSERT_EQ(y[static_cast<size_t>(((ko * r + ri) * s + si) * cp + ci)], want);
        }
  const int64_t total = k * r * s * cp;
  std::vector<bf16> expected(static_cast<size_t>(total)), got(static_cast<size_t>(total), bf16{0xdead});
  hwio_to_krsc_cpu(expected.data(), w.data(), r, s, c, k, cp);
  test::sweep_grid(hwio_to_krsc_blocks(total), kConvertThreads,
        [&](uint32_t b, uint32_t t) { hwio_to_krsc_thread(got.data(), w.data(), r, s, c, k, cp, b, t); });
  for (int64_t i = 0; i < total; ++i) ASSERT_EQ(got[i].bits, expected[i].bits) << i;
}

TEST(Convert, KrscToHwioInvertsHwioToKrscAndSweepMatches) {
  const int64_t r = 3, s = 3, c = 5, k = 7;
  const int64_t total = r * s * c * k;
  std::vector<float> w = test::random_floats(static_cast<size_t>(total), 16);
  std::vector<float> krsc(static_cast<size_t>(total)), back(static_cast<size_t>(total), -7.f);
  hwio_to_krsc_cpu(krsc.data(), w.data(), r, s, c, k, c);
  krsc_to_hwio_cpu(back.data(), krsc.data(), r, s, c, k);
  ASSERT_EQ(std::memcmp(back.data(), w.data(), w.size() * sizeof(float)), 0);
  // The sweep, with a poisoned tail past the output to catch writes beyond it.
  std::vector<float> got(static_cast<size_t>(total + 64), std::nanf(""));
  test::sweep_grid(hwio_to_krsc_blocks(total), kConvertThreads,
                   [&](uint32_t b, uint32_t t) { krsc_to_hwio_thread(got.data(), krsc.data(), r, s, c, k, b, t); });
  ASSERT_EQ(std::memcmp(got.data(), w.data(), w.size() * sizeof(float)), 0);
  for (size_t i = static_cast<size_t>(total); i < got.size(); ++i) ASSERT_TRUE(std::isnan(got[i])) << i;
}

TEST(Convert, TensorLevelChecksShapes) {
  Tensor x = Tensor::zeros({2, 3, 3}, DType::F32);
  Tensor y = Tensor::empty({2, 3, 2}, DType::BF16);
  EXPECT_THROW(pad_channels(y, x), Error);  // cannot pad 3 channels to 2
  Tensor z = Tensor::empty({2, 3, 4}, DType::I32);
  EXPECT_THROW(convert(z, x), Error);
}

// ---- GPU twins: bit for bit equal to the CPU ----

TEST(ConvertGpu, ConvertMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {1, 9, 1000, 100003}) {
    std::vector<float> v = test::random_floats(static_cast<size_t>(n), 21, -50.f, 50.f);
    Tensor hx = Tensor::empty({n}, DType::F32);
    std::memcpy(hx.raw(), v.data(), static_cast<size_t>(n) * 4);
    Tensor dx = to_device(hx, Device::cuda());
    Tensor db = test::poisoned({n}, DType::BF16, Device::cuda());
    convert(db, dx);
    Tensor hb = test::host_copy(db);
    std::vector<bf16> want(static_cast<size_t>(n));
    convert_cpu(want.data(), v.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hb.data<bf16>()[i].bits, want[i].bits) << "n=" << n << " i=" << i;
    Tensor df = test::poisoned({n}, DType::F32, Device::cuda());
    convert(df, db);
    Tensor hf = test::host_copy(df);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hf.data<float>()[i], bf16_to_float(want[i])) << i;
    if (n > 1) {  // unaligned views take the scalar path
      Tensor dxu = dx.view(1, {n - 1});
      Tensor dbu = test::poisoned({n}, DType::BF16, Device::cuda()).view(1, {n - 1});
      convert(dbu, dxu);
      Tensor hu = test::host_copy(dbu);
      for (int64_t i = 0; i < n - 1; ++i) ASSERT_EQ(hu.data<bf16>()[i].bits, want[i + 1].bits) << i;
    }
  }
}

TEST(ConvertGpu, PadChannelsAndFilterMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const int64_t n = 3, h = 7, w = 5, c = 3;
  std::vector<float> v = test::random_floats(static_cast<size_t>(n * h * w * c), 22, -120.f, 150.f);
  Tensor hx = Tensor::empty({n, h, w, c}, DType::F32);
  std::memcpy(hx.raw(), v.data(), v.size() * 4);
  Tensor dx = to_device(hx, Device::cuda());
  for (int64_t cp : {4, 8}) {
    Tensor db = test::poisoned({n, h, w, cp}, DType::BF16, Device::cuda());
    pad_channels(db, dx);
    Tensor df = test::poisoned({n, h, w, cp}, DType::F32, Device::cuda());
    pad_channels(df, dx);
    std::vector<bf16> wb(static_cast<size_t>(n * h * w * cp));
    std::vector<float> wf(wb.size());
    pad_channels_cpu(wb.data(), v.data(), n * h * w, c, cp);
    pad_channels_cpu(wf.data(), v.data(), n * h * w, c, cp);
    Tensor hb = test::host_copy(db), hf = test::host_copy(df);
    for (size_t i = 0; i < wb.size(); ++i) {
      ASSERT_EQ(hb.data<bf16>()[i].bits, wb[i].bits) << "cp=" << cp << " i=" << i;
      ASSERT_EQ(hf.data<float>()[i], wf[i]) << "cp=" << cp << " i=" << i;
    }
  }
  const int64_t k = 64;
  std::vector<float> kw = test::random_floats(static_cast<size_t>(9 * c * k), 23);
  Tensor hk = Tensor::empty({3, 3, c, k}, DType::F32);
  std::memcpy(hk.raw(), kw.data(), kw.size() * 4);
  Tensor dk = to_device(hk, Device::cuda());
  Tensor dy = test::poisoned({k, 3, 3, 8}, DType::BF16, Device::cuda());
  hwio_to_krsc(dy, dk);
  std::vector<bf16> want(static_cast<size_t>(k * 9 * 8));
  hwio_to_krsc_cpu(want.data(), kw.data(), 3, 3, c, k, 8);
  Tensor hy = test::host_copy(dy);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(hy.data<bf16>()[i].bits, want[i].bits) << i;
}

TEST(ConvertGpu, KrscToHwioMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const int64_t c = 512, k = 512;
  std::vector<float> v = test::random_floats(static_cast<size_t>(9 * c * k), 24);
  Tensor hk = Tensor::empty({k, 3, 3, c}, DType::F32);
  std::memcpy(hk.raw(), v.data(), v.size() * 4);
  Tensor dk = to_device(hk, Device::cuda());
  Tensor dy = test::poisoned({3, 3, c, k}, DType::F32, Device::cuda());
  krsc_to_hwio(dy, dk);
  std::vector<float> want(v.size());
  krsc_to_hwio_cpu(want.data(), v.data(), 3, 3, c, k);
  Tensor got = test::host_copy(dy);
  ASSERT_EQ(std::memcmp(got.raw(), want.data(), want.size() * 4), 0);
}

}  // namespace
}  // namespace vggtl
