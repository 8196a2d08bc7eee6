// BatchNormalization on the CPU (the specification: column statistics in double, two passes) and
// the tensor-level dispatch.
#include <cmath>
#include <vector>

#include "engine/context.h"
#include "kernels/batchnorm.h"

namespace vggtl {

namespace {

// y = x*s + (beta - mean*s), s = gamma*inv_std, in T: the form tf.nn.batch_normalization uses.
template <typename T>
void normalize(T* y, const T* x, const T* gamma, const T* beta, const T* mean, const T* inv_std,
               int64_t rows, int64_t cols) {
  std::vector<T> s(static_cast<size_t>(cols)), shift(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    s[c] = gamma[c] * inv_std[c];
    shift[c] = beta[c] - mean[c] * s[c];
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = x[r * cols + c] * s[c] + shift[c];
}

}  // namespace

template <typename T>
void batchnorm_train_forward_cpu(T* y, T* save_mean, T* save_inv_std, T* moving_mean, T* moving_var,
                                 const T* x, const T* gamma, const T* beta, int64_t rows,
                                 int64_t cols, double eps, double decay) {
  VGGTL_CHECK(rows >= 1, "batchnorm: batch statistics need at least one row");
  std::vector<double> sum(static_cast<size_t>(cols), 0.0), sq(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) sum[c] += static_cast<double>(x[r * cols + c]);
  for (int64_t c = 0; c < cols; ++c) sum[c] /= static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double d = static_cast<double>(x[r * cols + c]) - sum[c];
      sq[c] += d * d;
    }
  }
  const T t_decay = static_cast<T>(decay);
  for (int64_t c = 0; c < cols; ++c) {
    const double var = sq[c] / static_cast<double>(rows);  // biased, as tf.nn.moments
    save_mean[c] = static_cast<T>(sum[c]);
    save_inv_std[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
    moving_mean[c] = moving_mean[c] - (moving_mean[c] - static_cast<T>(sum[c])) * t_decay;
    moving_var[c] = moving_var[c] - (moving_var[c] - static_cast<T>(var)) * t_decay;
  }
  normalize(y, x, gamma, beta, save_mean, save_inv_std, rows, cols);
}

template <typename T>
void batchnorm_eval_forward_cpu(T* y, T* save_mean, T* save_inv_std, const T* x, const T* gamma,
                                const T* beta, const T* moving_mean, const T* moving_var,
                                int64_t rows, int64_t cols, double eps) {
  for (int64_t c = 0; c < cols; ++c) {
    save_mean[c] = moving_mean[c];
    save_inv_std[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(moving_var[c]) + eps));
  }
  normalize(y, x, gamma, beta, save_mean, save_inv_std, rows, cols);
}

template <typename T>
void batchnorm_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                            const T* mean, const T* inv_std, int64_t rows, int64_t cols,
                            bool batch_stats) {
  std::vector<double> sum_dy(static_cast<size_t>(cols), 0.0),
      sum_dy_xhat(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double g = static_cast<double>(dy[r * cols + c]);
      const double xhat = (static_cast<double>(x[r * cols + c]) - static_cast<double>(mean[c])) *
                          static_cast<double>(inv_std[c]);
      sum_dy[c] += g;
      sum_dy_xhat[c] += g * xhat;
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    if (dbeta) dbeta[c] = static_cast<T>(sum_dy[c]);
    if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat[c]);
  }
  if (!dx) return;
  const double n = static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double g = static_cast<double>(dy[r * cols + c]);
      const double k = static_cast<double>(gamma[c]) * static_cast<double>(inv_std[c]);
      double v;
      if (batch_stats) {
        const double xhat = (static_cast<double>(x[r * cols + c]) - static_cast<double>(mean[c])) *
                            static_cast<double>(inv_std[c]);
        v = k / n * (n * g - sum_dy[c] - xhat * sum_dy_xhat[c]);
      } else {
        v = g * k;
      }
      dx[r * cols + c] = static_cast<T>(v);
    }
  }
}

#define VGGTL_INSTANTIATE_BN(T)                                                                   \
  template void batchnorm_train_forward_cpu<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*,  \
                                               int64_t, int64_t, double, double);                 \
  template void batchnorm_eval_forward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, \
                                              const T*, int64_t, int64_t, double);                \
  template void batchnorm_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*,     \
                                          const T*, int64_t, int64_t, bool);
VGGTL_INSTANTIATE_BN(float)
VGGTL_INSTANTIATE_BN(double)
#undef VGGTL_INSTANTIATE_BN

namespace {

// All tensors on one device, with one dtype (F32, or F64 on the CPU); returns that dtype.
DType check_operands(const char* what, std::initializer_list<const Tensor*> ts) {
  const Tensor& first = **ts.begin();
  for (const Tensor* t : ts) {
    VGGTL_CHECK(t->device() == first.device() && t->dtype() == first.dtype(), what,
                ": operands differ: ", first.str(), " and ", t->str());
  }
  VGGTL_CHECK(first.dtype() == DType::F32 || (first.dtype() == DType::F64 && !first.is_cuda()),
              what, ": wants f32 (or f64 on the CPU), got ", first.str());
  return first.dtype();
}

void check_vectors(const char* what, int64_t cols, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    VGGTL_CHECK(t->numel() == cols, what, ": per-column tensor ", t->str(), " is not (", cols, ")");
}

}  // namespace

void batchnorm_train_forward(Tensor& y, Tensor& save_mean, Tensor& save_inv_std,
                             Tensor& moving_mean, Tensor& moving_var, const Tensor& x,
                             const Tensor& gamma, const Tensor& beta, double eps, double decay) {
  const DType dt =
      check_operands("batchnorm_train_forward",
                     {&y, &save_mean, &save_inv_std, &moving_mean, &moving_var, &x, &gamma, &beta});
  VGGTL_CHECK(x.shape() == y.shape() && x.ndim() >= 1 && x.dim(0) >= 1,
              "batchnorm_train_forward: ", x.str(), " -> ", y.str());
  const int64_t rows = x.dim(0), cols = x.cols();
  check_vectors("batchnorm_train_forward", cols,
                {&save_mean, &save_inv_std, &moving_mean, &moving_var, &gamma, &beta});
  if (dt == DType::F64) {
    batchnorm_train_forward_cpu(y.data<double>(), save_mean.data<double>(),
                                save_inv_std.data<double>(), moving_mean.data<double>(),
                                moving_var.data<double>(), x.data<double>(), gamma.data<double>(),
                                beta.data<double>(), rows, cols, eps, decay);
  } else if (y.is_cuda()) {
    batchnorm_train_forward_cuda(
        y.data<float>(), save_mean.data<float>(), save_inv_std.data<float>(),
        moving_mean.data<float>(), moving_var.data<float>(), x.data<float>(), gamma.data<float>(),
        beta.data<float>(), rows, cols, eps, decay, main_stream(y.device()));
  } else {
    batchnorm_train_forward_cpu(y.data<float>(), save_mean.data<float>(),
                                save_inv_std.data<float>(), moving_mean.data<float>(),
                                moving_var.data<float>(), x.data<float>(), gamma.data<float>(),
                                beta.data<float>(), rows, cols, eps, decay);
  }
}

void batchnorm_eval_forward(Tensor& y, Tensor& save_mean, Tensor& save_inv_std, const Tensor& x,
                            const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                            const Tensor& moving_var, double eps) {
  const DType dt =
      check_operands("batchnorm_eval_forward",
                     {&y, &save_mean, &save_inv_std, &x, &gamma, &beta, &moving_mean, &moving_var});
  VGGTL_CHECK(x.shape() == y.shape() && x.ndim() >= 1, "batchnorm_eval_forward: ", x.str(), " -> ",
              y.str());
  const int64_t rows = x.dim(0), cols = x.cols();
  check_vectors("batchnorm_eval_forward", cols,
                {&save_mean, &save_inv_std, &moving_mean, &moving_var, &gamma, &beta});
  if (dt == DType::F64) {
    batchnorm_eval_forward_cpu(y.data<double>(), save_mean.data<double>(),
                               save_inv_std.data<double>(), x.data<double>(), gamma.data<double>(),
                               beta.data<double>(), moving_mean.data<double>(),
                               moving_var.data<double>(), rows, cols, eps);
  } else if (y.is_cuda()) {
    batchnorm_eval_forward_cuda(y.data<float>(), save_mean.data<float>(),
                                save_inv_std.data<float>(), x.data<float>(), gamma.data<float>(),
                                beta.data<float>(), moving_mean.data<float>(),
                                moving_var.data<float>(), rows, cols, eps, main_stream(y.device()));
  } else {
    batchnorm_eval_forward_cpu(y.data<float>(), save_mean.data<float>(), save_inv_std.data<float>(),
                               x.data<float>(), gamma.data<float>(), beta.data<float>(),
                               moving_mean.data<float>(), moving_var.data<float>(), rows, cols,
                               eps);
  }
}

void batchnorm_backward(Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                        const Tensor& x, const Tensor& gamma, const Tensor& mean,
                        const Tensor& inv_std, bool batch_stats) {
  const DType dt = check_operands("batchnorm_backward", {&dy, &x, &gamma, &mean, &inv_std});
  VGGTL_CHECK(x.shape() == dy.shape() && x.ndim() >= 1, "batchnorm_backward: ", dy.str(), " for ",
              x.str());
  const int64_t rows = x.dim(0), cols = x.cols();
  check_vectors("batchnorm_backward", cols, {&gamma, &mean, &inv_std});
  if (dx) {
    check_operands("batchnorm_backward", {dx, &dy});
    VGGTL_CHECK(dx->shape() == dy.shape(), "batchnorm_backward: dx ", dx->str(), " for ", dy.str());
  }
  for (Tensor* p : {dgamma, dbeta}) {
    if (!p) continue;
    check_operands("batchnorm_backward", {p, &dy});
    check_vectors("batchnorm_backward", cols, {p});
  }
  if (dt == DType::F64) {
    batchnorm_backward_cpu(
        dx ? dx->data<double>() : nullptr, dgamma ? dgamma->data<double>() : nullptr,
        dbeta ? dbeta->data<double>() : nullptr, dy.data<double>(), x.data<double>(),
        gamma.data<double>(), mean.data<double>(), inv_std.data<double>(), rows, cols, batch_stats);
  } else if (dy.is_cuda()) {
    batchnorm_backward_cuda(
        dx ? dx->data<float>() : nullptr, dgamma ? dgamma->data<float>() : nullptr,
        dbeta ? dbeta->data<float>() : nullptr, dy.data<float>(), x.data<float>(),
        gamma.data<float>(), mean.data<float>(), inv_std.data<float>(), rows, cols, batch_stats,
        main_stream(dy.device()));
  } else {
    batchnorm_backward_cpu(
        dx ? dx->data<float>() : nullptr, dgamma ? dgamma->data<float>() : nullptr,
        dbeta ? dbeta->data<float>() : nullptr, dy.data<float>(), x.data<float>(),
        gamma.data<float>(), mean.data<float>(), inv_std.data<float>(), rows, cols, batch_stats);
  }
}

}  // namespace vggtl
