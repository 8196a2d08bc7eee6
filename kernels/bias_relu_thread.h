// Per-element work of bias + ReLU (kernels/bias_relu.h), shared by the twins; the CUDA kernel's
// threads, swept over the launch grid by the CPU test. Tested by tests/kernels/test_bias_relu.cpp.
#pragma once

#include "kernels/bias_relu.h"
#include "kernels/vec16.h"

namespace vggtl {

VGGTL_HD float bias_relu_value(float x, float b) {
  const float v = x + b;
  return v < 0.f ? 0.f : v;  // not fmaxf: a NaN must reach the output
}

// Launch geometry: one thread per unit; a unit is a 16-byte vector when `vec` (C a multiple of
// the vector width, pointers 16-byte aligned), else one element. Index is uint32_t when the unit
// count fits, int64_t otherwise (32-bit division is several times cheaper on the GPU).
constexpr int kBiasReluThreads = 256;

template <typename T>
inline int64_t bias_relu_units(int64_t m, int64_t c, bool vec) {
  return vec ? m * c / Vec16<T>::kSize : m * c;
}

template <typename T, bool kVec, typename Index>
VGGTL_HD void bias_relu_thread(T* y, const T* x, const float* b, Index units, Index c, uint32_t block,
                               uint32_t thread) {
  const Index u = static_cast<Index>(block) * kBiasReluThreads + thread;
  if (u >= units) return;
  if (kVec) {
    constexpr int kV = Vec16<T>::kSize;
    const Index c0 = (u % (c / kV)) * kV;
    const Vec16<T> a = load_vec16(x + static_cast<int64_t>(u) * kV);
    Vec16<T> out;
    for (int q = 0; q < kV; ++q) out.v[q] = from_float<T>(bias_relu_value(to_float(a.v[q]), b[c0 + q]));
    store_vec16(y + static_cast<int64_t>(u) * kV, out);
  } else {
    y[u] = from_float<T>(bias_relu_value(to_float(x[u]), b[u % c]));
  }
}

}  // namespace vggtl
