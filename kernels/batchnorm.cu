// BatchNormalization on the GPU. Train forward and backward: one block owns kColumnTileX whole
// columns, so it reduces them (double partials in shared memory, added in a fixed order: no
// atomics, bit-reproducible) and then writes y or dx itself. Eval: one thread per column.

#include "engine/cuda_check.h"
#include "kernels/batchnorm.h"

namespace vggtl {

__global__ void batchnorm_train_forward_kernel(float* y, float* save_mean, float* save_inv_std,
                                               float* moving_mean, float* moving_var,
                                               const float* x, const float* gamma,
                                               const float* beta, int64_t rows, int64_t cols,
                                               double eps, float decay) {
  __shared__ double partial[kColumnTileY][kColumnTileX];
  __shared__ double stat[2][kColumnTileX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColumnTileX + tx;
  const bool live = col < cols;

  partial[ty][tx] = live ? column_partial_sum(x, rows, cols, col, ty) : 0.0;
  __syncthreads();
  if (ty == 0) stat[0][tx] = sum_column_partials(&partial[0][tx], kColumnTileX) / static_cast<double>(rows);
  __syncthreads();
  const double mean = stat[0][tx];
  partial[ty][tx] = live ? bn_partial_sqdev(x, rows, cols, col, ty, mean) : 0.0;
  __syncthreads();
  if (ty == 0) {
    const double var = sum_column_partials(&partial[0][tx], kColumnTileX) / static_cast<double>(rows);
    stat[1][tx] = bn_inv_std(var, eps);
    if (live) {
      save_mean[col] = static_cast<float>(mean);
      save_inv_std[col] = static_cast<float>(stat[1][tx]);
      // Written as Keras does, without contraction, so the update adds nothing to the difference
      // from the CPU twin (whose batch statistics, summed in another order, may differ by an ulp).
      const float mm = moving_mean[col], mv = moving_var[col];
      moving_mean[col] = __fsub_rn(mm, __fmul_rn(__fsub_rn(mm, static_cast<float>(mean)), decay));
      moving_var[col] = __fsub_rn(mv, __fmul_rn(__fsub_rn(mv, static_cast<float>(var)), decay));
    }
  }
  __syncthreads();
  if (live)
    bn_normalize_rows(y, x, rows, cols, col, ty, gamma[col], beta[col], static_cast<float>(mean),
                      static_cast<float>(stat[1][tx]));
}

void batchnorm_train_forward_cuda(float* y, float* save_mean, float* save_inv_std,
                                  float* moving_mean, float* moving_var, const float* x,
                                  const float* gamma, const float* beta, int64_t rows, int64_t cols,
                                  double eps, double decay, Stream stream) {
  VGGTL_CHECK(rows >= 1, "batchnorm: batch statistics need at least one row");
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "batchnorm");
  batchnorm_train_forward_kernel<<<static_cast<unsigned>(blocks), dim3(kColumnTileX, kColumnTileY), 0,
                                   stream>>>(y, save_mean, save_inv_std, moving_mean, moving_var, x,
                                             gamma, beta, rows, cols, eps,
                                             static_cast<float>(decay));
  KERNEL_CHECK();
}

__global__ void batchnorm_eval_forward_kernel(float* y, float* save_mean, float* save_inv_std,
                                              const float* x, const float* gamma, const float* beta,
                                              const float* moving_mean, const float* moving_var,
                                              int64_t rows, int64_t cols, double eps) {
  bn_eval_thread(y, save_mean, save_inv_std, x, gamma, beta, moving_mean, moving_var, rows, cols,
                 eps, blockIdx.x, blockIdx.y, gridDim.y, threadIdx.x);
}

void batchnorm_eval_forward_cuda(float* y, float* save_mean, float* save_inv_std, const float* x,
                                 const float* gamma, const float* beta, const float* moving_mean,
                                 const float* moving_var, int64_t rows, int64_t cols, double eps,
                                 Stream stream) {
  if (cols == 0) return;
  // At least one row block, so that the saved statistics are written even for zero rows.
  const RowStridedGrid g = row_strided_grid(rows, cols, kBnEvalThreads, "batchnorm");
  batchnorm_eval_forward_kernel<<<dim3(static_cast<unsigned>(g.x), static_cast<unsigned>(g.y)),
                                  kBnEvalThreads, 0, stream>>>(
      y, save_mean, save_inv_std, x, gamma, beta, moving_mean, moving_var, rows, cols, eps);
  KERNEL_CHECK();
}

__global__ void batchnorm_backward_kernel(float* dx, float* dgamma, float* dbeta, const float* dy,
                                          const float* x, const float* gamma, const float* mean,
                                          const float* inv_std, int64_t rows, int64_t cols,
                                          bool batch_stats) {
  __shared__ double part_dy[kColumnTileY][kColumnTileX];
  __shared__ double part_dy_xhat[kColumnTileY][kColumnTileX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColumnTileX + tx;
  const bool live = col < cols;
  const double m = live ? static_cast<double>(mean[col]) : 0.0;
  const double is = live ? static_cast<double>(inv_std[col]) : 0.0;
  double a = 0, b = 0;
  if (live) bn_partial_grad_sums(dy, x, rows, cols, col, ty, m, is, &a, &b);
  part_dy[ty][tx] = a;
  part_dy_xhat[ty][tx] = b;
  __syncthreads();
  if (!live) return;
  const double sum_dy = sum_column_partials(&part_dy[0][tx], kColumnTileX);
  const double sum_dy_xhat = sum_column_partials(&part_dy_xhat[0][tx], kColumnTileX);
  if (ty == 0) {
    if (dbeta) dbeta[col] = static_cast<float>(sum_dy);
    if (dgamma) dgamma[col] = static_cast<float>(sum_dy_xhat);
  }
  if (dx)
    bn_backward_rows(dx, dy, x, rows, cols, col, ty, static_cast<double>(gamma[col]), m, is, sum_dy,
                     sum_dy_xhat, batch_stats);
}

void batchnorm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* gamma, const float* mean,
                             const float* inv_std, int64_t rows, int64_t cols, bool batch_stats,
                             Stream stream) {
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "batchnorm");
  batchnorm_backward_kernel<<<static_cast<unsigned>(blocks), dim3(kColumnTileX, kColumnTileY), 0, stream>>>(
      dx, dgamma, dbeta, dy, x, gamma, mean, inv_std, rows, cols, batch_stats);
  KERNEL_CHECK();
}

}  // namespace vggtl
