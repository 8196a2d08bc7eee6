// ReLU forward and backward: one thread per element.
#include "engine/cuda_check.h"
#include "kernels/relu.h"
#include "kernels/relu_thread.h"

namespace vggtl {

__global__ void relu_forward_kernel(float* y, const float* x, int64_t n) {
  relu_forward_thread(y, x, n, blockIdx.x, threadIdx.x);
}

__global__ void relu_backward_kernel(float* dx, const float* dy, const float* y, int64_t n) {
  relu_backward_thread(dx, dy, y, n, blockIdx.x, threadIdx.x);
}

namespace {
unsigned relu_blocks(int64_t n) {
  const int64_t blocks = ceil_div<int64_t>(n, kReluThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "relu: ", n, " elements is too many for one launch");
  return static_cast<unsigned>(blocks);
}
}  // namespace

void relu_forward_cuda(float* y, const float* x, int64_t n, Stream stream) {
  if (n <= 0) return;
  relu_forward_kernel<<<relu_blocks(n), kReluThreads, 0, stream>>>(y, x, n);
  KERNEL_CHECK();
}

void relu_backward_cuda(float* dx, const float* dy, const float* y, int64_t n, Stream stream) {
  if (n <= 0) return;
  relu_backward_kernel<<<relu_blocks(n), kReluThreads, 0, stream>>>(dx, dy, y, n);
  KERNEL_CHECK();
}

}  // namespace vggtl
