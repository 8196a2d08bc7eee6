// 2x2 max-pooling, stride 2, 'valid': x (N, H, W, C) NHWC -> y (N, H/2, W/2, C) (floor: an odd
// last row or column is dropped, as Keras MaxPooling2D does); y = max of x[2i..2i+1][2j..2j+1];
// f32 or bf16; a NaN in the window gives NaN. Tested by tests/kernels/test_maxpool2d.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/vec16.h"

namespace vggtl {

// Max that lets NaN through (v != v), unlike fmaxf.
VGGTL_HD float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

template <typename T>
void maxpool2d_forward_cpu(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c);

// Launch geometry: one thread per output pixel and unit of channels; a unit is a 16-byte vector
// when `vec` (C a multiple of the width, pointers 16-byte aligned), else one element. Index is
// uint32_t when the count fits (cheap division), int64_t otherwise.
constexpr int kMaxPoolThreads = 256;

template <typename T>
inline int64_t maxpool2d_units(int64_t n, int64_t h, int64_t w, int64_t c, bool vec) {
  return n * (h / 2) * (w / 2) * (vec ? c / Vec16<T>::kSize : c);
}

template <typename T, bool kVec, typename Index>
VGGTL_HD void maxpool2d_thread(T* y, const T* x, Index units, Index h, Index w, Index c, uint32_t block,
                               uint32_t thread) {
  const Index u = static_cast<Index>(block) * kMaxPoolThreads + thread;
  if (u >= units) return;
  constexpr int kV = kVec ? Vec16<T>::kSize : 1;
  const Index cu = c / kV, wo = w / 2, ho = h / 2;
  const Index cv = u % cu;
  Index t = u / cu;
  const Index j = t % wo;
  t /= wo;
  const Index i = t % ho;
  const Index img = t / ho;
  // Top-left input of the window, and the output, as element offsets.
  const int64_t in0 = ((static_cast<int64_t>(img) * h + 2 * i) * w + 2 * j) * c + cv * kV;
  const int64_t row = static_cast<int64_t>(w) * c;
  const int64_t out = static_cast<int64_t>(u) * kV;
  if (kVec) {
    const Vec16<T> a = load_vec16(x + in0), b = load_vec16(x + in0 + c);
    const Vec16<T> d = load_vec16(x + in0 + row), e = load_vec16(x + in0 + row + c);
    Vec16<T> r;
    for (int q = 0; q < kV; ++q)
      r.v[q] = from_float<T>(max_nan(max_nan(max_nan(to_float(a.v[q]), to_float(b.v[q])), to_float(d.v[q])),
                                     to_float(e.v[q])));
    store_vec16(y + out, r);
  } else {
    y[out] = from_float<T>(max_nan(max_nan(max_nan(to_float(x[in0]), to_float(x[in0 + c])), to_float(x[in0 + row])),
                                   to_float(x[in0 + row + c])));
  }
}

#if VGGTL_HAVE_CUDA
template <typename T>
void maxpool2d_forward_cuda(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c, Stream stream);
#endif

// x (N, H, W, C) f32 or bf16 -> y (N, H/2, W/2, C) of the same dtype, on x's device.
void maxpool2d_forward(Tensor& y, const Tensor& x);

}  // namespace vggtl
