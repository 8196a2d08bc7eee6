// Launch geometry and per-thread work of the conversion CUDA kernels (kernels/convert.h), swept
// over the launch grid by the CPU tests. Tested by tests/kernels/test_convert.cpp.
#pragma once

#include "kernels/convert.h"
#include "kernels/vec16.h"

namespace vggtl {

// ---- Launch geometry and per-thread work of the CUDA twins (swept on the CPU by the tests) ----
constexpr int kConvertThreads = 256;
constexpr int kConvertPerThread = 8;  // elements per thread of convert

inline int64_t convert_blocks(int64_t n) {
  const int64_t threads = (n + kConvertPerThread - 1) / kConvertPerThread;
  return (threads + kConvertThreads - 1) / kConvertThreads;
}
// `vec`: both pointers 16-byte aligned, so a full group of 8 moves as 16-byte vectors.
template <typename To, typename From>
VGGTL_HD void convert_thread(To* y, const From* x, int64_t n, bool vec, uint32_t block,
                             uint32_t thread) {
  const int64_t i0 = (static_cast<int64_t>(block) * kConvertThreads + thread) * kConvertPerThread;
  if (i0 >= n) return;
  if (vec && i0 + kConvertPerThread <= n) {
    float v[kConvertPerThread];
    constexpr int kIn = Vec16<From>::kSize, kOut = Vec16<To>::kSize;
    for (int j = 0; j < kConvertPerThread; j += kIn) {
      const Vec16<From> a = load_vec16(x + i0 + j);
      for (int q = 0; q < kIn; ++q) v[j + q] = to_float(a.v[q]);
    }
    for (int j = 0; j < kConvertPerThread; j += kOut) {
      Vec16<To> b;
      for (int q = 0; q < kOut; ++q) b.v[q] = from_float<To>(v[j + q]);
      store_vec16(y + i0 + j, b);
    }
    return;
  }
  const int64_t end = i0 + kConvertPerThread < n ? i0 + kConvertPerThread : n;
  for (int64_t i = i0; i < end; ++i) y[i] = from_float<To>(to_float(x[i]));
}

// One thread per pixel m.
inline int64_t pad_channels_blocks(int64_t m) { return (m + kConvertThreads - 1) / kConvertThreads; }
// `vec`: cp is a multiple of the 16-byte vector width of To and y is 16-byte aligned.
template <typename To, typename From>
VGGTL_HD void pad_channels_thread(To* y, const From* x, int64_t m, int64_t c, int64_t cp, bool vec,
                                  uint32_t block, uint32_t thread) {
  const int64_t p = static_cast<int64_t>(block) * kConvertThreads + thread;
  if (p >= m) return;
  const From* src = x + p * c;
  To* dst = y + p * cp;
  if (vec) {
    constexpr int kOut = Vec16<To>::kSize;
    for (int64_t k0 = 0; k0 < cp; k0 += kOut) {
      Vec16<To> b;
      for (int q = 0; q < kOut; ++q) b.v[q] = from_float<To>(k0 + q < c ? to_float(src[k0 + q]) : 0.f);
      store_vec16(dst + k0, b);
    }
    return;
  }
  for (int64_t k = 0; k < cp; ++k) dst[k] = from_float<To>(k < c ? to_float(src[k]) : 0.f);
}

// One thread per output element of (K, R, S, Cp).
inline int64_t hwio_to_krsc_blocks(int64_t total) { return (total + kConvertThreads - 1) / kConvertThreads; }
template <typename To>
VGGTL_HD void hwio_to_krsc_thread(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k,
                                  int64_t cp, uint32_t block, uint32_t thread) {
  const int64_t o = static_cast<int64_t>(block) * kConvertThreads + thread;
  if (o >= k * r * s * cp) return;
  const int64_t ci = o % cp;
  int64_t t = o / cp;
  const int64_t si = t % s;
  t /= s;
  const int64_t ri = t % r;
  const int64_t ki = t / r;
  y[o] = from_float<To>(ci < c ? w[((ri * s + si) * c + ci) * k + ki] : 0.f);
}

// One thread per output element of (R, S, C, K).
VGGTL_HD void krsc_to_hwio_thread(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k,
                                  uint32_t block, uint32_t thread) {
  const int64_t o = static_cast<int64_t>(block) * kConvertThreads + thread;
  if (o >= k * r * s * c) return;
  const int64_t ki = o % k;
  const int64_t rsc = o / k;  // (ri * s + si) * c + ci
  y[o] = w[ki * r * s * c + rsc];
}

}  // namespace vggtl
