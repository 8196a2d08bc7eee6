// Dropout on the GPU: each thread draws one Philox block and masks four consecutive elements.
#include "engine/cuda_check.h"
#include "kernels/dropout.h"
#include "kernels/dropout_thread.h"

namespace vggtl {

__global__ void dropout_kernel(float* y, const float* x, int64_t n, float rate, float scale,
                               uint64_t seed, uint32_t step, uint64_t offset) {
  dropout_thread(y, x, n, rate, scale, seed, step, offset, blockIdx.x, threadIdx.x);
}

void dropout_cuda(float* y, const float* x, int64_t n, float rate, uint64_t seed, uint32_t step,
                  uint64_t offset, Stream stream) {
  if (n <= 0) return;
  VGGTL_CHECK(offset % 4 == 0, "dropout_cuda: offset ", offset, " is not a multiple of 4");
  const int64_t blocks = ceil_div<int64_t>(ceil_div<int64_t>(n, 4), kDropoutThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "dropout: ", n, " elements is too many for one launch");
  dropout_kernel<<<static_cast<unsigned>(blocks), kDropoutThreads, 0, stream>>>(
      y, x, n, rate, static_cast<float>(dropout_scale(rate)), seed, step, offset);
  KERNEL_CHECK();
}

}  // namespace vggtl
