// Type conversion on the GPU: one thread per element.
#include "engine/cuda_check.h"
#include "kernels/cast.h"

namespace vggtl {

__global__ void cast_f32_to_bf16_kernel(bf16* y, const float* x, int64_t n) {
  cast_f32_to_bf16_thread(y, x, n, blockIdx.x, threadIdx.x);
}

__global__ void cast_bf16_to_f32_kernel(float* y, const bf16* x, int64_t n) {
  cast_bf16_to_f32_thread(y, x, n, blockIdx.x, threadIdx.x);
}

namespace {
unsigned cast_blocks(int64_t n) {
  const int64_t blocks = ceil_div<int64_t>(n, kCastThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "cast: ", n, " elements is too many for one launch");
  return static_cast<unsigned>(blocks);
}
}  // namespace

void cast_f32_to_bf16_cuda(bf16* y, const float* x, int64_t n, Stream stream) {
  if (n <= 0) return;
  cast_f32_to_bf16_kernel<<<cast_blocks(n), kCastThreads, 0, stream>>>(y, x, n);
  KERNEL_CHECK();
}

void cast_bf16_to_f32_cuda(float* y, const bf16* x, int64_t n, Stream stream) {
  if (n <= 0) return;
  cast_bf16_to_f32_kernel<<<cast_blocks(n), kCastThreads, 0, stream>>>(y, x, n);
  KERNEL_CHECK();
}

}  // namespace vggtl
