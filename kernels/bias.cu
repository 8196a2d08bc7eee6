// Bias add (one thread per column, rows strided over grid.y) and deterministic column sums (one
// block per 32 columns; partials in shared memory added in a fixed order, no atomics). The
// per-thread and per-block work lives in kernels/bias.h, where the CPU sweeps run it too.
#include "engine/cuda_check.h"
#include "kernels/bias.h"
#include "kernels/bias_thread.h"
#include "kernels/block_phases.h"

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

__global__ void __launch_bounds__(BiasGradBlock::kThreadsX * BiasGradBlock::kThreadsY)
    bias_grad_kernel(BiasGradBlock program) {
  __shared__ BiasGradBlock::Shared shared;
  run_block_phases(program, shared);
}

void bias_grad_cuda(float* db, const float* dy, int64_t rows, int64_t cols, Stream stream) {
  if (cols == 0) return;
  const int64_t blocks = column_tile_blocks(cols, "bias_grad_cuda");
  bias_grad_kernel<<<static_cast<unsigned>(blocks),
                     dim3(BiasGradBlock::kThreadsX, BiasGradBlock::kThreadsY), 0, stream>>>(
      BiasGradBlock{db, dy, rows, cols});
  KERNEL_CHECK();
}

}  // namespace vggtl
