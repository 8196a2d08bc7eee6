// Softmax cross-entropy on the GPU: one thread per row; the epoch totals are added by a single
// thread in row order, so they are the same bits on every run (no atomics). The per-thread work
// of both kernels lives in kernels/softmax_xent.h, where the CPU sweeps run it too.
#include "engine/cuda_check.h"
#include "kernels/softmax_xent.h"
#include "kernels/softmax_xent_thread.h"

namespace vggtl {

__global__ void softmax_xent_kernel(float* probs, float* dlogits, float* row_loss,
                                    int32_t* predicted, const float* logits, const int32_t* labels,
                                    int64_t n, int64_t k) {
  softmax_xent_thread(probs, dlogits, row_loss, predicted, logits, labels, n, k, blockIdx.x,
                      threadIdx.x);
}

void softmax_xent_cuda(float* probs, float* dlogits, float* row_loss, int32_t* predicted,
                       const float* logits, const int32_t* labels, int64_t n, int64_t k,
                       Stream stream) {
  if (n <= 0) return;
  const int64_t blocks = ceil_div<int64_t>(n, kXentThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "softmax_xent: ", n, " rows is too many");
  softmax_xent_kernel<<<static_cast<unsigned>(blocks), kXentThreads, 0, stream>>>(
      probs, dlogits, row_loss, predicted, logits, labels, n, k);
  KERNEL_CHECK();
}

__global__ void xent_accumulate_kernel(double* totals, const float* row_loss,
                                       const int32_t* predicted, const int32_t* labels, int64_t n) {
  xent_accumulate_thread(totals, row_loss, predicted, labels, n, blockIdx.x, threadIdx.x);
}

void xent_accumulate_cuda(double* totals, const float* row_loss, const int32_t* predicted,
                          const int32_t* labels, int64_t n, Stream stream) {
  xent_accumulate_kernel<<<1, 1, 0, stream>>>(totals, row_loss, predicted, labels, n);
  KERNEL_CHECK();
}

}  // namespace vggtl
