// Optimizer updates over flat parameter arrays (one pass, one kernel), in tf.keras 2.x's form.
// Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= (m*alpha) / (sqrt(v) + eps) with
// alpha = lr*sqrt(1 - b2^t)/(1 - b1^t), t = step + 1, all in the parameters' precision.
// SGD: momentum 0: w += -g*lr; else vel = -g*lr + vel*momentum, then w += vel, or with nesterov
// w += -g*lr + vel*momentum. No fused multiply-adds, so CPU and GPU agree to the bit.
// Tested in tests/kernels/test_optimizer.cpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"
#include "kernels/vec16.h"

namespace vggtl {

template <typename T>
struct AdamCoeffs {
  T alpha, one_minus_b1, one_minus_b2, eps;
};

// The per-step constants, computed as tf.keras does: in T, from (lr, b1, b2, eps) cast to T.
template <typename T>
AdamCoeffs<T> adam_coeffs(double lr, double beta_1, double beta_2, double epsilon, int64_t step) {
  const T t = static_cast<T>(step + 1);
  const T b1_power = std::pow(static_cast<T>(beta_1), t);
  const T b2_power = std::pow(static_cast<T>(beta_2), t);
  AdamCoeffs<T> c;
  c.alpha = static_cast<T>(lr) * std::sqrt(T(1) - b2_power) / (T(1) - b1_power);
  c.one_minus_b1 = static_cast<T>(1.0 - beta_1);
  c.one_minus_b2 = static_cast<T>(1.0 - beta_2);
  c.eps = static_cast<T>(epsilon);
  return c;
}

template <typename T>
void adam_step_cpu(T* w, T* m, T* v, const T* g, int64_t n, const AdamCoeffs<T>& c);
// vel may be null when momentum == 0.
template <typename T>
void sgd_step_cpu(T* w, T* vel, const T* g, int64_t n, T lr, T momentum, bool nesterov);

void adam_step_cuda(float* w, float* m, float* v, const float* g, int64_t n,
                    const AdamCoeffs<float>& c, Stream stream);
void sgd_step_cuda(float* w, float* vel, const float* g, int64_t n, float lr, float momentum,
                   bool nesterov, Stream stream);

// Tensor level: all the same numel, dtype (F32 any device, F64 CPU) and device.
void adam_step(Tensor& w, Tensor& m, Tensor& v, const Tensor& g, double lr, double beta_1,
               double beta_2, double epsilon, int64_t step);
void sgd_step(Tensor& w, Tensor* vel, const Tensor& g, double lr, double momentum, bool nesterov);

// Arithmetic without contraction into FMA, the same on the host and the device.
VGGTL_HD float opt_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
VGGTL_HD float opt_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
VGGTL_HD float opt_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
VGGTL_HD float opt_div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
VGGTL_HD float opt_sqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

VGGTL_HD void adam_update(float& w, float& m, float& v, float g, float alpha, float c1, float c2,
                          float eps) {
  m = opt_add(m, opt_mul(opt_sub(g, m), c1));
  v = opt_add(v, opt_mul(opt_sub(opt_mul(g, g), v), c2));
  w = opt_sub(w, opt_div(opt_mul(m, alpha), opt_add(opt_sqrt(v), eps)));
}

VGGTL_HD void sgd_update(float& w, float* vel, float g, float lr, float momentum, bool nesterov) {
  const float step = opt_mul(-g, lr);
  if (!vel) {
    w = opt_add(w, step);
    return;
  }
  *vel = opt_add(step, opt_mul(*vel, momentum));
  w = opt_add(w, nesterov ? opt_add(step, opt_mul(*vel, momentum)) : *vel);
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
