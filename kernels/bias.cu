// Bias add (one thread per column, rows strided over grid.y) and deterministic column sums (one
// block per 32 columns; partials in shared memory added in a fixed order, no atomics).
#include "engine/cuda_check.h"
#include "kernels/bias.h"

namespace vggtl {

__global__ void bias_add_kernel(float* y, const float* x, const float* b, int64_t rows,
                                int64_t cols, bool relu) {
  bias_add_thread(y, x, b, rows, cols, relu, blockIdx.x, blockIdx.y, gridDim.y, threadIdx.x);
}

void bias_add_cuda(float* y, const float* x, const float* b, int64_t rows, int64_t cols, bool relu,
                   Stream stream) {
  if (rows == 0 || cols == 0) return;
  const RowStridedGrid g = row_strided_grid(rows, cols, kBiasThreads, "bias_add_cuda");
  bias_add_kernel<<<dim3(static_cast<unsigned>(g.x), static_cast<unsigned>(g.y)), kBiasThreads, 0,
                    stream>>>(y, x, b, rows, cols, relu);
  KERNEL_CHECK();
}

__global__ void bias_grad_kernel(float* db, const float* dy, int64_t rows, int64_t cols) {
  __shared__ double partial[kColumnTileY][kColumnTileX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColumnTileX + tx;
  partial[ty][tx] = col < cols ? column_partial_sum(dy, rows, cols, col, ty) : 0.0;
  __syncthreads();
  if (ty == 0 && col < cols)
    db[col] = static_cast<float>(sum_column_partials(&partial[0][tx], kColumnTileX));
}

void bias_grad_cuda(float* db, const float* dy, int64_t rows, int64_t cols, Stream stream) {
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "bias_grad_cuda");
  bias_grad_kernel<<<static_cast<unsigned>(blocks), dim3(kColumnTileX, kColumnTileY), 0,
                     stream>>>(db, dy, rows, cols);
  KERNEL_CHECK();
}

}  // namespace vggtl
