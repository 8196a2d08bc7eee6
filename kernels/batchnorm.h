// BatchNormalization over the last axis of a row-major (rows, cols) matrix, as tf.keras does
// for 2-D input. Train: per column mean and BIASED variance over the rows, inv_std =
// 1/sqrt(var + eps), y = x*s + (beta - mean*s) with s = gamma*inv_std (tf.nn.batch_normalization),
// moving = moving - (moving - stat)*decay. Eval: the same with the moving statistics.
// Backward with batch statistics: dbeta = sum dy, dgamma = sum dy*xhat, xhat = (x - mean)*inv_std,
// dx = gamma*inv_std/rows * (rows*dy - dbeta - xhat*dgamma); with fixed statistics
// dx = dy*gamma*inv_std. Sums in double everywhere. Tested in tests/kernels/test_batchnorm.cpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"
#include "kernels/exact_math.h"

namespace vggtl {

// save_mean and save_inv_std (cols) receive the statistics used, for backward.
template <typename T>
void batchnorm_train_forward_cpu(T* y, T* save_mean, T* save_inv_std, T* moving_mean, T* moving_var,
                                 const T* x, const T* gamma, const T* beta, int64_t rows,
                                 int64_t cols, double eps, double decay);
template <typename T>
void batchnorm_eval_forward_cpu(T* y, T* save_mean, T* save_inv_std, const T* x, const T* gamma,
                                const T* beta, const T* moving_mean, const T* moving_var,
                                int64_t rows, int64_t cols, double eps);
// dx, dgamma, dbeta may each be null (not wanted). batch_stats: the forward used batch statistics.
template <typename T>
void batchnorm_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                            const T* mean, const T* inv_std, int64_t rows, int64_t cols,
                            bool batch_stats);

void batchnorm_train_forward_cuda(float* y, float* save_mean, float* save_inv_std,
                                  float* moving_mean, float* moving_var, const float* x,
                                  const float* gamma, const float* beta, int64_t rows, int64_t cols,
                                  double eps, double decay, Stream stream);
void batchnorm_eval_forward_cuda(float* y, float* save_mean, float* save_inv_std, const float* x,
                                 const float* gamma, const float* beta, const float* moving_mean,
                                 const float* moving_var, int64_t rows, int64_t cols, double eps,
                                 Stream stream);
void batchnorm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* gamma, const float* mean,
                             const float* inv_std, int64_t rows, int64_t cols, bool batch_stats,
                             Stream stream);

// Tensor level: x, y, dy, dx (rows, cols); the rest (cols). F32 on any device or F64 on the CPU.
void batchnorm_train_forward(Tensor& y, Tensor& save_mean, Tensor& save_inv_std,
                             Tensor& moving_mean, Tensor& moving_var, const Tensor& x,
                             const Tensor& gamma, const Tensor& beta, double eps, double decay);
void batchnorm_eval_forward(Tensor& y, Tensor& save_mean, Tensor& save_inv_std, const Tensor& x,
                            const Tensor& gamma, const Tensor& beta, const Tensor& moving_mean,
                            const Tensor& moving_var, double eps);
void batchnorm_backward(Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                        const Tensor& x, const Tensor& gamma, const Tensor& mean,
                        const Tensor& inv_std, bool batch_stats);

// moving - (moving - stat)*decay in float, each operation rounded on its own as Keras's update
// is (no fused multiply-add; kernels/exact_math.h), so that it adds nothing to the difference from
// the CPU twin. Shared by the twins and layers/batch_normalization.cpp.
VGGTL_HD float bn_moving_update(float moving, float stat, float decay) {
  return exact_sub(moving, exact_mul(exact_sub(moving, stat), decay));
}

}  // namespace vggtl
