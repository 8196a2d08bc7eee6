// BatchNormalization on the GPU. Train forward and backward: one block owns kColumnTileX whole
// columns, so it reduces them (double partials in shared memory, added in a fixed order: no
// atomics, bit-reproducible) and then writes y or dx itself. Eval: one thread per column. The
// block programs and the per-thread work live in kernels/batchnorm.h, swept there by the tests.

#include "engine/cuda_check.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_thread.h"
#include "kernels/block_phases.h"

namespace vggtl {

__global__ void __launch_bounds__(BnTrainForwardBlock::kThreadsX * BnTrainForwardBlock::kThreadsY)
    batchnorm_train_forward_kernel(BnTrainForwardBlock program) {
  __shared__ BnTrainForwardBlock::Shared shared;
  run_block_phases(program, shared);
}

void batchnorm_train_forward_cuda(float* y, float* save_mean, float* save_inv_std,
                                  float* moving_mean, float* moving_var, const float* x,
                                  const float* gamma, const float* beta, int64_t rows, int64_t cols,
                                  double eps, double decay, Stream stream) {
  VGGTL_CHECK(rows >= 1, "batchnorm: batch statistics need at least one row");
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "batchnorm");
  batchnorm_train_forward_kernel<<<
      static_cast<unsigned>(blocks),
      dim3(BnTrainForwardBlock::kThreadsX, BnTrainForwardBlock::kThreadsY), 0, stream>>>(
      BnTrainForwardBlock{y, save_mean, save_inv_std, moving_mean, moving_var, x, gamma, beta, rows,
                          cols, eps, static_cast<float>(decay)});
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

__global__ void __launch_bounds__(BnBackwardBlock::kThreadsX * BnBackwardBlock::kThreadsY)
    batchnorm_backward_kernel(BnBackwardBlock program) {
  __shared__ BnBackwardBlock::Shared shared;
  run_block_phases(program, shared);
}

void batchnorm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* gamma, const float* mean,
                             const float* inv_std, int64_t rows, int64_t cols, bool batch_stats,
                             Stream stream) {
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "batchnorm");
  batchnorm_backward_kernel<<<static_cast<unsigned>(blocks),
                              dim3(BnBackwardBlock::kThreadsX, BnBackwardBlock::kThreadsY), 0,
                              stream>>>(BnBackwardBlock{dx, dgamma, dbeta, dy, x, gamma, mean,
                                                        inv_std, rows, cols, batch_stats});
  KERNEL_CHECK();
}

}  // namespace vggtl
