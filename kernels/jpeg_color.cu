// CUDA twin of JPEG upsampling + colour conversion: one launch for every pixel of every image of a
// batch, one thread per output pixel, consecutive pixels per thread block so the interleaved RGB
// stores coalesce (per-thread work in kernels/jpeg_color.h).
#include "engine/cuda_check.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_color_thread.h"

namespace vggtl {

__global__ void __launch_bounds__(kColorThreads)
    jpeg_color_kernel(uint8_t* rgb, const uint8_t* __restrict__ planes,
                      const JpegColorImage* __restrict__ images, int num_images) {
  jpeg_color_thread(rgb, planes, images, num_images, blockIdx.x, threadIdx.x);
}

void jpeg_color_cuda(uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                     int num_images, int64_t num_ctas, Stream stream) {
  if (num_images <= 0 || num_ctas <= 0) return;
  VGGTL_CHECK(num_ctas < (int64_t{1} << 31), "jpeg_color_cuda: ", num_ctas, " thread blocks is too many");
  VGGTL_CHECK(rgb && planes && images, "jpeg_color_cuda: null buffer");
  jpeg_color_kernel<<<static_cast<unsigned>(num_ctas), kColorThreads, 0, stream>>>(rgb, planes, images,
                                                                                   num_images);
  KERNEL_CHECK();
}

}  // namespace vggtl
