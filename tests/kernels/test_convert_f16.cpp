// f32 <-> f16 conversion of the f16 feature cache: every f16 value widens exactly and narrows
// back to itself; f32 -> f16 rounding (nearest, ties to even, overflow to infinity, subnormals)
// against a reference that picks the nearer neighbour in double; the per-thread function swept
// on the CPU; the GPU twin equal to the CPU bit for bit (ConvertF16Gpu).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/tensor.h"
#include "kernels/convert.h"
#include "kernels/convert_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

// Value of f16 bits in double, infinity as 2^16 (what IEEE rounding compares against).
double f16_value(uint16_t bits) {
  const int e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
  const double mag = e == 0x1f ? std::ldexp(1.0, 16) : e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return (bits & 0x8000) ? -mag : mag;
}

// The f16 nearest to f, ties to the even mantissa, by distances in double over the neighbours.
uint16_t reference_f16(float f) {
  const double v = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  uint16_t lo = 0;  // largest magnitude <= v (binary search over the ordered positive bit patterns)
  uint16_t a = 0, b = 0x7c00;
  while (a < b) {
    const uint16_t mid = static_cast<uint16_t>((a + b + 1) / 2);
    if (f16_value(mid) <= v) a = mid;
    else b = static_cast<uint16_t>(mid - 1);
  }
  lo = a;
  if (f16_value(lo) == v || lo == 0x7c00) return static_cast<uint16_t>(sign | lo);
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  const double dlo = v - f16_value(lo), dhi = f16_value(hi) - v;
  const uint16_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
  return static_cast<uint16_t>(sign | pick);
}

float float_of_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(ConvertF16, EveryValueWidensExactlyAndNarrowsBack) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const f16 x{static_cast<uint16_t>(h)};
    const float f = f16_to_float(x);
    const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
    if (nan) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_TRUE(std::isnan(f16_to_float(float_to_f16(f)))) << h;
      continue;
    }
    const double want = ((h & 0x7c00) == 0x7c00) ? ((h & 0x8000) ? -INFINITY : INFINITY) : f16_value(x.bits);
    ASSERT_EQ(static_cast<double>(f), want) << h;
    ASSERT_EQ(float_to_f16(f).bits, h) << h;
  }
}

TEST(ConvertF16, RoundsToNearestEvenAgainstAReference) {
  // Hand cases: the largest f16, the tie above it, the smallest subnormal and its half.
  EXPECT_EQ(float_to_f16(65504.f).bits, 0x7bff);
  EXPECT_EQ(float_to_f16(65519.99f).bits, 0x7bff);
  EXPECT_EQ(float_to_f16(65520.f).bits, 0x7c00);
  EXPECT_EQ(float_to_f16(-1e30f).bits, 0xfc00);
  EXPECT_EQ(float_to_f16(std::ldexp(1.f, -24)).bits, 0x0001);
  EXPECT_EQ(float_to_f16(std::ldexp(1.f, -25)).bits, 0x0000);
  EXPECT_EQ(float_to_f16(std::ldexp(1.5f, -25)).bits, 0x0001);
  EXPECT_EQ(float_to_f16(1.f + std::ldexp(1.f, -11)).bits, 0x3c00);  // tie to even (down)
  EXPECT_EQ(float_to_f16(1.f + 3 * std::ldexp(1.f, -11)).bits, 0x3c02);  // tie to even (up)
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
  // Midpoints between neighbouring f16 values (exact in f32) and random bit patterns of every
  // exponent that reaches f16.
  for (uint32_t h = 0; h < 0x7bff; h += 7) {
    const float mid = static_cast<float>((f16_value(static_cast<uint16_t>(h)) + f16_value(static_cast<uint16_t>(h + 1))) / 2);
    for (float f : {mid, -mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e9f)})
      ASSERT_EQ(float_to_f16(f).bits, reference_f16(f)) << "h=" << h << " f=" << f;
  }
  uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    const uint32_t exponent = 95 + (state >> 8) % 50;  // 2^-32 .. 2^17
    state = state * 1664525u + 1013904223u;
    const float f = float_of_bits(((state & 1u) << 31) | (exponent << 23) | (state >> 9));
    ASSERT_EQ(float_to_f16(f).bits, reference_f16(f)) << f;
  }
}

TEST(ConvertF16, TensorConvertAndThreadSweepMatchTheSpec) {
  for (int64_t n : {1, 7, 8, 9, 1003}) {
    const std::vector<float> v = test::random_floats(static_cast<size_t>(n), 31, -70000.f, 70000.f);
    Tensor x = Tensor::empty({n}, DType::F32);
    std::memcpy(x.raw(), v.data(), static_cast<size_t>(n) * 4);
    Tensor h = Tensor::empty({n}, DType::F16), back = Tensor::empty({n}, DType::F32);
    convert(h, x);
    convert(back, h);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(h.data<f16>()[i].bits, reference_f16(v[static_cast<size_t>(i)])) << i;
      ASSERT_EQ(back.data<float>()[i], f16_to_float(h.data<f16>()[i])) << i;
    }
    for (bool vec : {false, true}) {
      Tensor y = Tensor::empty({n}, DType::F16), w = Tensor::empty({n}, DType::F32);
      test::sweep_grid(convert_blocks(n), kConvertThreads,
                       [&](uint32_t b, uint32_t t) { convert_thread(y.data<f16>(), x.data<float>(), n, vec, b, t); });
      test::sweep_grid(convert_blocks(n), kConvertThreads,
                       [&](uint32_t b, uint32_t t) { convert_thread(w.data<float>(), y.data<f16>(), n, vec, b, t); });
      ASSERT_EQ(std::memcmp(y.raw(), h.raw(), h.nbytes()), 0) << "n=" << n << " vec=" << vec;
      ASSERT_EQ(std::memcmp(w.raw(), back.raw(), back.nbytes()), 0) << "n=" << n << " vec=" << vec;
    }
  }
}

TEST(ConvertF16Gpu, ConvertMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {1, 9, 1000, 100003}) {
    const std::vector<float> v = test::random_floats(static_cast<size_t>(n), 41, -70000.f, 70000.f);
    Tensor hx = Tensor::empty({n}, DType::F32);
    std::memcpy(hx.raw(), v.data(), static_cast<size_t>(n) * 4);
    Tensor dx = to_device(hx, Device::cuda());
    Tensor dh = test::poisoned({n}, DType::F16, Device::cuda());
    convert(dh, dx);
    Tensor hh = test::host_copy(dh);
    std::vector<f16> want(static_cast<size_t>(n));
    convert_cpu(want.data(), v.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hh.data<f16>()[i].bits, want[i].bits) << "n=" << n << " i=" << i;
    Tensor df = test::poisoned({n}, DType::F32, Device::cuda());
    convert(df, dh);
    Tensor hf = test::host_copy(df);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hf.data<float>()[i], f16_to_float(want[i])) << i;
  }
}

}  // namespace
}  // namespace vggtl
