// Element conversion and channel padding. convert: y[i] = x[i] (f32 -> bf16 and f32 -> f16
// round to nearest even). pad_channels: x (M, C) -> y (M, Cp), y[m][k] = k < C ? x[m][k] : 0, with optional
// f32 -> bf16 conversion (the 3-channel NHWC image padded to 4 or 8 channels so that conv1_1 runs
// on tensor cores). hwio_to_krsc: Keras conv kernel w (R, S, C, K) f32 -> cuDNN filter y (K, R, S,
// Cp) f32 or bf16, zero for c >= C; krsc_to_hwio: its inverse for f32 without padding (the cuDNN
// filter gradient back into the Keras layout). Tested by tests/kernels/test_convert.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/vec16.h"

namespace vggtl {

// ---- CPU twins: the specification ----
template <typename To, typename From>
void convert_cpu(To* y, const From* x, int64_t n);
template <typename To, typename From>
void pad_channels_cpu(To* y, const From* x, int64_t m, int64_t c, int64_t cp);
template <typename To>
void hwio_to_krsc_cpu(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp);
void krsc_to_hwio_cpu(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k);

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

template <typename To, typename From>
void convert_cuda(To* y, const From* x, int64_t n, Stream stream);
template <typename To, typename From>
void pad_channels_cuda(To* y, const From* x, int64_t m, int64_t c, int64_t cp, Stream stream);
template <typename To>
void hwio_to_krsc_cuda(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp,
                       Stream stream);
void krsc_to_hwio_cuda(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, Stream stream);

// ---- Tensor level: the twin of the tensors' device, on its main stream ----
// Same element count and device; f32 <-> bf16 and f32 <-> f16 on any device, f32 <-> f64 on
// the CPU; equal dtypes copy.
void convert(Tensor& y, const Tensor& x);
// x (..., C) -> y (..., Cp), Cp >= C, same leading dimensions; dtypes f32 or bf16 each.
void pad_channels(Tensor& y, const Tensor& x);
// w (R, S, C, K) f32 -> y (K, R, S, Cp) f32 or bf16.
void hwio_to_krsc(Tensor& y, const Tensor& w);
// w (K, R, S, C) f32 -> y (R, S, C, K) f32.
void krsc_to_hwio(Tensor& y, const Tensor& w);

}  // namespace vggtl
