// CUDA twin of the Philox fill: one thread per 4-word block, so each Philox evaluation is used
// whole; the tail block writes only the words below n.
#include "engine/cuda_check.h"
#include "engine/philox.h"
#include "kernels/random.h"

namespace vggtl {

__global__ void philox_fill_kernel(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id,
                                   uint32_t offset) {
  const int64_t block = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t first = block * 4;
  if (first >= n) return;
  const Philox4 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), offset,
                                  stream_id, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int k = 0; k < 4 && first + k < n; ++k) out[first + k] = r.v[k];
}

void philox_fill_cuda(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id, uint32_t offset,
                      Stream stream) {
  if (n <= 0) return;
  const int threads = 256;
  const int64_t blocks = ceil_div<int64_t>(ceil_div<int64_t>(n, 4), threads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "philox_fill: ", n, " words is too many for one launch");
  philox_fill_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(out, n, seed, stream_id, offset);
  KERNEL_CHECK();
}

}  // namespace vggtl
