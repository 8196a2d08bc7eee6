// Element types of tensors, and host/device bf16 and f16 with round-to-nearest-even conversion
// (bit-compatible with __nv_bfloat16 and __half, so the same buffers serve both twins).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define VGGTL_HD __host__ __device__ __forceinline__
#else
#define VGGTL_HD inline
#endif

namespace vggtl {

enum class DType : uint8_t { F32, F64, BF16, F16, U8, I32 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

VGGTL_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

VGGTL_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

struct bf16 {
  uint16_t bits;
};

// Round to nearest, ties to even; NaN stays NaN (quiet bit forced), as __float2bfloat16_rn.
VGGTL_HD bf16 float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>(u >> 16)};
}

VGGTL_HD float bf16_to_float(bf16 h) { return bits_float(static_cast<uint32_t>(h.bits) << 16); }

struct f16 {
  uint16_t bits;
};

// IEEE binary16, round to nearest, ties to even, as __float2half_rn: magnitudes from 65520 up
// become infinity, those up to 2^-25 (a tie with zero) become zero, subnormals are kept; NaN
// stays NaN (quiet, payload dropped).
VGGTL_HD f16 float_to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{static_cast<uint16_t>(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};
  if (a >= 0x38800000u) {  // normal: rebias the exponent (127 -> 15), round 23 -> 10 mantissa bits
    uint32_t v = a - 0x38000000u;
    v += 0xfffu + ((v >> 13) & 1u);
    return f16{static_cast<uint16_t>(sign | (v >> 13))};
  }
  if (a <= 0x33000000u) return f16{static_cast<uint16_t>(sign)};
  // Subnormal: the value in units of 2^-24 is m * 2^(e - 126), m with its implicit bit.
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - (a >> 23);  // 14 .. 24
  uint32_t r = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (r & 1u))) ++r;
  return f16{static_cast<uint16_t>(sign | r)};
}

// Exact.
VGGTL_HD float f16_to_float(f16 h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t e = (h.bits >> 10) & 0x1fu, m = h.bits & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24
    return sign ? -v : v;
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

template <typename T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<f16> { static constexpr DType value = DType::F16; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };

}  // namespace vggtl
