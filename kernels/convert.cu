// CUDA twins of the conversions: each thread runs the per-thread function of convert.h.
#include "engine/cuda_check.h"
#include "kernels/convert.h"
#include "kernels/convert_thread.h"

namespace vggtl {

namespace {

template <typename To, typename From>
__global__ void convert_kernel(To* y, const From* x, int64_t n, bool vec) {
  convert_thread(y, x, n, vec, blockIdx.x, threadIdx.x);
}

template <typename To, typename From>
__global__ void pad_channels_kernel(To* y, const From* x, int64_t m, int64_t c, int64_t cp, bool vec) {
  pad_channels_thread(y, x, m, c, cp, vec, blockIdx.x, threadIdx.x);
}

template <typename To>
__global__ void hwio_to_krsc_kernel(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k,
                                    int64_t cp) {
  hwio_to_krsc_thread(y, w, r, s, c, k, cp, blockIdx.x, threadIdx.x);
}

__global__ void krsc_to_hwio_kernel(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k) {
  krsc_to_hwio_thread(y, w, r, s, c, k, blockIdx.x, threadIdx.x);
}

unsigned grid_of(int64_t blocks, const char* what) {
  VGGTL_CHECK(blocks < (int64_t{1} << 31), what, ": ", blocks, " blocks is too many for one launch");
  return static_cast<unsigned>(blocks);
}

}  // namespace

template <typename To, typename From>
void convert_cuda(To* y, const From* x, int64_t n, Stream stream) {
  if (n <= 0) return;
  const bool vec = aligned16(y) && aligned16(x);
  convert_kernel<<<grid_of(convert_blocks(n), "convert"), kConvertThreads, 0, stream>>>(y, x, n, vec);
  KERNEL_CHECK();
}

template <typename To, typename From>
void pad_channels_cuda(To* y, const From* x, int64_t m, int64_t c, int64_t cp, Stream stream) {
  if (m <= 0 || cp <= 0) return;
  VGGTL_CHECK(c <= cp, "pad_channels: ", c, " channels cannot be padded to ", cp);
  const bool vec = cp % Vec16<To>::kSize == 0 && aligned16(y);
  pad_channels_kernel<<<grid_of(pad_channels_blocks(m), "pad_channels"), kConvertThreads, 0, stream>>>(
      y, x, m, c, cp, vec);
  KERNEL_CHECK();
}

template <typename To>
void hwio_to_krsc_cuda(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp,
                       Stream stream) {
  const int64_t total = k * r * s * cp;
  if (total <= 0) return;
  VGGTL_CHECK(c <= cp, "hwio_to_krsc: ", c, " channels cannot be padded to ", cp);
  hwio_to_krsc_kernel<<<grid_of(hwio_to_krsc_blocks(total), "hwio_to_krsc"), kConvertThreads, 0, stream>>>(
      y, w, r, s, c, k, cp);
  KERNEL_CHECK();
}

void krsc_to_hwio_cuda(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, Stream stream) {
  const int64_t total = k * r * s * c;
  if (total <= 0) return;
  krsc_to_hwio_kernel<<<grid_of(hwio_to_krsc_blocks(total), "krsc_to_hwio"), kConvertThreads, 0, stream>>>(
      y, w, r, s, c, k);
  KERNEL_CHECK();
}

VGGTL_CONVERT_CUDA_INSTANCES

}  // namespace vggtl
