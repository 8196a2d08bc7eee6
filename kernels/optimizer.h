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

}  // namespace vggtl
