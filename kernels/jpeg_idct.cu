// CUDA twin of the JPEG IDCT: one launch for every block of every plane of a batch. Each thread
// block takes 32 consecutive 8x8 blocks of one plane; 8 threads per block do the column pass into
// shared memory, then the row pass out to the plane (per-thread work in kernels/jpeg_idct.h).
#include <cstdint>

#include "engine/cuda_check.h"
#include "kernels/jpeg_idct.h"
#include "kernels/jpeg_idct_thread.h"

namespace vggtl {

__global__ void __launch_bounds__(kIdctThreads)
    jpeg_idct_kernel(uint8_t* out, const int16_t* __restrict__ coefs,
                     const uint16_t* __restrict__ quant, const JpegIdctPlane* __restrict__ planes,
                     int num_planes) {
  __shared__ int32_t ws[kIdctBlocksPerCta * kIdctWsStride];
  const int64_t cta = blockIdx.x;
  const JpegIdctWork w = jpeg_idct_work(planes, num_planes, cta, threadIdx.x);
  const JpegIdctPlane& p = planes[w.plane];
  int32_t* mine = ws + w.slot * kIdctWsStride;
  if (w.active) jpeg_idct_column_thread(p, w, coefs, quant, mine);
  __syncthreads();  // rows need every column of their block
  if (w.active) jpeg_idct_row_thread(p, w, mine, out);
}

void jpeg_idct_cuda(uint8_t* out, const int16_t* coefs, const uint16_t* quant,
                    const JpegIdctPlane* planes, int num_planes, int64_t num_ctas, Stream stream) {
  if (num_planes <= 0 || num_ctas <= 0) return;
  VGGTL_CHECK(num_ctas < (int64_t{1} << 31), "jpeg_idct_cuda: ", num_ctas, " thread blocks is too many");
  VGGTL_CHECK(out && coefs && quant && planes, "jpeg_idct_cuda: null buffer");
  VGGTL_CHECK(reinterpret_cast<uintptr_t>(out) % 8 == 0, "jpeg_idct_cuda: output not 8-byte aligned");
  jpeg_idct_kernel<<<static_cast<unsigned>(num_ctas), kIdctThreads, 0, stream>>>(out, coefs, quant,
                                                                                  planes, num_planes);
  KERNEL_CHECK();
}

}  // namespace vggtl
