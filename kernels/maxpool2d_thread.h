// Per-thread work of the max-pool CUDA kernels (kernels/maxpool2d.h) and the window helpers the CPU
// twins share with them; the CPU test sweeps the threads over the launch grid.
// Tested in tests/kernels/test_maxpool2d.cpp.
#pragma once

#include "kernels/maxpool2d.h"
#include "kernels/vec16.h"

namespace vggtl {

// Max that lets NaN through (v != v), unlike fmaxf.
VGGTL_HD float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

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

// ---- Backward ----
// Which input of a window takes the gradient, as TensorFlow's MaxPoolGrad decides (its CPU kernel
// recomputes the argmax walking the window in row-major order and moves it only to a strictly
// greater value): the first maximum in the order (0,0), (0,1), (1,0), (1,1), so ties go to the
// earliest. A window holding NaN (whose forward output is NaN) sends it to its first NaN. x0: the
// window's top-left element; c: the step to the next column; row: to the next row. Returns 0..3.
template <typename T>
VGGTL_HD int maxpool2d_window_argmax(const T* x0, int64_t c, int64_t row) {
  const T v[4] = {x0[0], x0[c], x0[row], x0[row + c]};
  int best = 0;
  for (int q = 1; q < 4; ++q) {
    if (v[best] != v[best]) break;  // a NaN holds the gradient
    if (v[q] > v[best] || v[q] != v[q]) best = q;
  }
  return best;
}

// CUDA geometry: one thread per element of dx, which reads its window and keeps dy where it is the
// argmax (4 reads per element instead of a scatter: no zeroing pass, no write conflicts, and the
// dropped odd row and column get their zeros from the same threads). Swept on the CPU by the test.
constexpr int kMaxPoolBackwardThreads = 256;
template <typename T>
VGGTL_HD void maxpool2d_backward_thread(T* dx, const T* dy, const T* x, int64_t n, int64_t h, int64_t w,
                                        int64_t c, uint32_t block, uint32_t thread) {
  const int64_t e = static_cast<int64_t>(block) * kMaxPoolBackwardThreads + thread;
  if (e >= n * h * w * c) return;
  const int64_t k = e % c;
  int64_t t = e / c;
  const int64_t j = t % w;
  t /= w;
  const int64_t i = t % h;
  const int64_t img = t / h;
  const int64_t ho = h / 2, wo = w / 2;
  if (i >= 2 * ho || j >= 2 * wo) {
    dx[e] = T(0);
    return;
  }
  const int64_t i0 = i - i % 2, j0 = j - j % 2;
  const int best = maxpool2d_window_argmax(x + ((img * h + i0) * w + j0) * c + k, c, w * c);
  const int mine = static_cast<int>((i - i0) * 2 + (j - j0));
  dx[e] = best == mine ? dy[((img * ho + i / 2) * wo + j / 2) * c + k] : T(0);
}

}  // namespace vggtl
