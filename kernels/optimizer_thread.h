// Per-element work of the optimizers (kernels/optimizer.h), shared by the twins: the updates in
// exact arithmetic and the CUDA threads' element ranges, which the CPU test sweeps.
// Tested by tests/kernels/test_optimizer.cpp.
#pragma once

#include "kernels/exact_math.h"
#include "kernels/optimizer.h"
#include "kernels/vec16.h"

namespace vggtl {

// Arithmetic without contraction into FMA, the same on the host and the device (exact_math.h).
VGGTL_HD void adam_update(float& w, float& m, float& v, float g, float alpha, float c1, float c2,
                          float eps) {
  m = exact_add(m, exact_mul(exact_sub(g, m), c1));
  v = exact_add(v, exact_mul(exact_sub(exact_mul(g, g), v), c2));
  w = exact_sub(w, exact_div(exact_mul(m, alpha), exact_add(exact_sqrt(v), eps)));
}

VGGTL_HD void sgd_update(float& w, float* vel, float g, float lr, float momentum, bool nesterov) {
  const float step = exact_mul(-g, lr);
  if (!vel) {
    w = exact_add(w, step);
    return;
  }
  *vel = exact_add(step, exact_mul(*vel, momentum));
  w = exact_add(w, nesterov ? exact_add(step, exact_mul(*vel, momentum)) : *vel);
}

// CUDA geometry: blocks of kOptimizerThreads; thread t updates elements 4t .. 4t+3, with 128-bit
// loads on the GPU when all arrays are 16-byte aligned; swept by the CPU test.
constexpr int kOptimizerThreads = 256;

VGGTL_HD void adam_thread(float* w, float* m, float* v, const float* g, int64_t n,
                          AdamCoeffs<float> c, int64_t block, int thread) {
  const int64_t first = (block * kOptimizerThreads + thread) * 4;
  if (first >= n) return;
  if (first + 4 <= n && aligned16(w) && aligned16(m) && aligned16(v) && aligned16(g)) {
    Vec16<float> w4 = load_vec16(w + first), m4 = load_vec16(m + first), v4 = load_vec16(v + first);
    const Vec16<float> g4 = load_vec16(g + first);
    for (int k = 0; k < 4; ++k)
      adam_update(w4.v[k], m4.v[k], v4.v[k], g4.v[k], c.alpha, c.one_minus_b1, c.one_minus_b2,
                  c.eps);
    store_vec16(w + first, w4);
    store_vec16(m + first, m4);
    store_vec16(v + first, v4);
    return;
  }
  for (int64_t i = first; i < first + 4 && i < n; ++i)
    adam_update(w[i], m[i], v[i], g[i], c.alpha, c.one_minus_b1, c.one_minus_b2, c.eps);
}

VGGTL_HD void sgd_thread(float* w, float* vel, const float* g, int64_t n, float lr, float momentum,
                         bool nesterov, int64_t block, int thread) {
  const int64_t first = (block * kOptimizerThreads + thread) * 4;
  for (int64_t i = first; i < first + 4 && i < n; ++i)
    sgd_update(w[i], vel ? vel + i : nullptr, g[i], lr, momentum, nesterov);
}

}  // namespace vggtl
