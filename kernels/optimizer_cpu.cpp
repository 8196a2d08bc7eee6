// Adam and SGD on the CPU (the specification, written as tf.keras writes it) and the dispatch.
#include <cmath>

#include "engine/context.h"
#include "kernels/optimizer.h"

namespace vggtl {

template <typename T>
void adam_step_cpu(T* w, T* m, T* v, const T* g, int64_t n, const AdamCoeffs<T>& c) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = m[i] + (g[i] - m[i]) * c.one_minus_b1;
    v[i] = v[i] + (g[i] * g[i] - v[i]) * c.one_minus_b2;
    w[i] = w[i] - (m[i] * c.alpha) / (std::sqrt(v[i]) + c.eps);
  }
}

template <typename T>
void sgd_step_cpu(T* w, T* vel, const T* g, int64_t n, T lr, T momentum, bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    const T step = -g[i] * lr;
    if (!vel) {
      w[i] = w[i] + step;
      continue;
    }
    vel[i] = step + vel[i] * momentum;
    w[i] = w[i] + (nesterov ? step + vel[i] * momentum : vel[i]);
  }
}

template void adam_step_cpu<float>(float*, float*, float*, const float*, int64_t,
                                   const AdamCoeffs<float>&);
template void adam_step_cpu<double>(double*, double*, double*, const double*, int64_t,
                                    const AdamCoeffs<double>&);
template void sgd_step_cpu<float>(float*, float*, const float*, int64_t, float, float, bool);
template void sgd_step_cpu<double>(double*, double*, const double*, int64_t, double, double, bool);

namespace {
void check_same(const char* what, const Tensor& a, const Tensor& b) {
  VGGTL_CHECK(a.device() == b.device() && a.dtype() == b.dtype() && a.numel() == b.numel(), what,
              ": ", a.str(), " and ", b.str(), " differ");
  VGGTL_CHECK(a.dtype() == DType::F32 || (a.dtype() == DType::F64 && !a.is_cuda()), what,
              ": wants f32 (or f64 on the CPU), got ", a.str());
}
}  // namespace

void adam_step(Tensor& w, Tensor& m, Tensor& v, const Tensor& g, double lr, double beta_1,
               double beta_2, double epsilon, int64_t step) {
  check_same("adam_step", w, m);
  check_same("adam_step", w, v);
  check_same("adam_step", w, g);
  VGGTL_CHECK(step >= 0, "adam_step: negative step ", step);
  if (w.dtype() == DType::F64) {
    adam_step_cpu(w.data<double>(), m.data<double>(), v.data<double>(), g.data<double>(), w.numel(),
                  adam_coeffs<double>(lr, beta_1, beta_2, epsilon, step));
  } else if (w.is_cuda()) {
    adam_step_cuda(w.data<float>(), m.data<float>(), v.data<float>(), g.data<float>(), w.numel(),
                   adam_coeffs<float>(lr, beta_1, beta_2, epsilon, step), main_stream(w.device()));
  } else {
    adam_step_cpu(w.data<float>(), m.data<float>(), v.data<float>(), g.data<float>(), w.numel(),
                  adam_coeffs<float>(lr, beta_1, beta_2, epsilon, step));
  }
}

void sgd_step(Tensor& w, Tensor* vel, const Tensor& g, double lr, double momentum, bool nesterov) {
  check_same("sgd_step", w, g);
  VGGTL_CHECK(vel || momentum == 0.0, "sgd_step: momentum ", momentum, " needs a velocity tensor");
  if (vel) check_same("sgd_step", w, *vel);
  if (w.dtype() == DType::F64) {
    sgd_step_cpu(w.data<double>(), vel ? vel->data<double>() : nullptr, g.data<double>(), w.numel(),
                 lr, momentum, nesterov);
  } else if (w.is_cuda()) {
    sgd_step_cuda(w.data<float>(), vel ? vel->data<float>() : nullptr, g.data<float>(), w.numel(),
                  static_cast<float>(lr), static_cast<float>(momentum), nesterov,
                  main_stream(w.device()));
  } else {
    sgd_step_cpu(w.data<float>(), vel ? vel->data<float>() : nullptr, g.data<float>(), w.numel(),
                 static_cast<float>(lr), static_cast<float>(momentum), nesterov);
  }
}

}  // namespace vggtl
