// Adam and SGD on the GPU: one launch over the whole parameter arena, four elements per thread.
#include "engine/cuda_check.h"
#include "kernels/optimizer.h"
#include "kernels/optimizer_thread.h"

namespace vggtl {

__global__ void adam_step_kernel(float* w, float* m, float* v, const float* g, int64_t n,
                                 AdamCoeffs<float> c) {
  adam_thread(w, m, v, g, n, c, blockIdx.x, threadIdx.x);
}

__global__ void sgd_step_kernel(float* w, float* vel, const float* g, int64_t n, float lr,
                                float momentum, bool nesterov) {
  sgd_thread(w, vel, g, n, lr, momentum, nesterov, blockIdx.x, threadIdx.x);
}

namespace {
unsigned optimizer_blocks(int64_t n) {
  const int64_t blocks = ceil_div<int64_t>(ceil_div<int64_t>(n, 4), kOptimizerThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "optimizer: ", n,
              " parameters is too many for one launch");
  return static_cast<unsigned>(blocks);
}
}  // namespace

void adam_step_cuda(float* w, float* m, float* v, const float* g, int64_t n,
                    const AdamCoeffs<float>& c, Stream stream) {
  if (n <= 0) return;
  adam_step_kernel<<<optimizer_blocks(n), kOptimizerThreads, 0, stream>>>(w, m, v, g, n, c);
  KERNEL_CHECK();
}

void sgd_step_cuda(float* w, float* vel, const float* g, int64_t n, float lr, float momentum,
                   bool nesterov, Stream stream) {
  if (n <= 0) return;
  sgd_step_kernel<<<optimizer_blocks(n), kOptimizerThreads, 0, stream>>>(w, vel, g, n, lr, momentum,
                                                                         nesterov);
  KERNEL_CHECK();
}

}  // namespace vggtl
