// Bias add (one thread per column, rows strided over grid.y) and deterministic column sums (one
// block per 32 columns; partials in shared memory added in a fixed order, no atomics).
#include <algorithm>

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
  const int64_t gx = ceil_div<int64_t>(cols, kBiasThreads);
  VGGTL_CHECK(gx < (int64_t{1} << 31), "bias_add_cuda: ", cols, " columns is too many");
  // Enough row blocks to fill the GPU; each thread then loops over its share of the rows.
  const int64_t gy = std::min<int64_t>({rows, std::max<int64_t>(1, 4096 / gx), 65535});
  bias_add_kernel<<<dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), kBiasThreads, 0,
                    stream>>>(y, x, b, rows, cols, relu);
  KERNEL_CHECK();
}

__global__ void bias_grad_kernel(float* db, const float* dy, int64_t rows, int64_t cols) {
  __shared__ double partial[kBiasGradTileY][kBiasGradTileX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kBiasGradTileX + tx;
  partial[ty][tx] = col < cols ? column_partial_sum(dy, rows, cols, col, ty) : 0.0;
  __syncthreads();
  if (ty == 0 && col < cols) {
    double s = 0;
    for (int j = 0; j < kBiasGradTileY; ++j) s += partial[j][tx];
    db[col] = static_cast<float>(s);
  }
}

void bias_grad_cuda(float* db, const float* dy, int64_t rows, int64_t cols, Stream stream) {
  if (cols == 0) return;
  const int64_t blocks = ceil_div<int64_t>(cols, kBiasGradTileX);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "bias_grad_cuda: ", cols, " columns is too many");
  bias_grad_kernel<<<static_cast<unsigned>(blocks), dim3(kBiasGradTileX, kBiasGradTileY), 0,
                     stream>>>(db, dy, rows, cols);
  KERNEL_CHECK();
}

}  // namespace vggtl
