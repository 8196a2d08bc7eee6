// CUDA twin of the Philox fill: one thread per 4-word block, so each Philox evaluation is used
// whole; the tail block writes only the words below n (per-thread work in kernels/random.h).
#include "engine/cuda_check.h"
#include "kernels/random.h"
#include "kernels/random_thread.h"

namespace vggtl {

__global__ void philox_fill_kernel(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id,
                                   uint32_t offset) {
  philox_fill_thread(out, n, seed, stream_id, offset, blockIdx.x, threadIdx.x);
}

void philox_fill_cuda(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id, uint32_t offset,
                      Stream stream) {
  if (n <= 0) return;
  const int64_t blocks = philox_fill_blocks(n);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "philox_fill: ", n, " words is too many for one launch");
  philox_fill_kernel<<<static_cast<unsigned>(blocks), kPhiloxFillThreads, 0, stream>>>(
      out, n, seed, stream_id, offset);
  KERNEL_CHECK();
}

}  // namespace vggtl
