// CUDA twin of resize + preprocess: one thread per output pixel (nearest, and the vertical
// pass of bilinear), one per pixel of the uint8 intermediate (horizontal pass). The per-thread
// work is the __host__ __device__ code in resize_preprocess.h, swept on the CPU by the tests.
#include "engine/cuda_check.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

namespace {

constexpr int kThreads = 256;

template <typename OutT>
__global__ void resize_nearest_kernel(OutT* out, const uint8_t* in, const int32_t* table, ResizeGeometry g,
                                      PixelTransform t) {
  resize_nearest_thread(blockIdx.x, threadIdx.x, blockDim.x, out, in, table, g, t);
}

__global__ void resample_horizontal_kernel(uint8_t* tmp, const uint8_t* in, const int32_t* table, ResizeGeometry g) {
  resample_horizontal_thread(blockIdx.x, threadIdx.x, blockDim.x, tmp, in, table, g);
}

template <typename OutT>
__global__ void resample_vertical_kernel(OutT* out, const uint8_t* tmp, const int32_t* table, ResizeGeometry g,
                                         PixelTransform t) {
  resample_vertical_thread(blockIdx.x, threadIdx.x, blockDim.x, out, tmp, table, g, t);
}

unsigned blocks_for(int64_t n) {
  const int64_t b = ceil_div<int64_t>(n, kThreads);
  VGGTL_CHECK(b < (int64_t{1} << 31), "resize_preprocess: ", n, " pixels is too many for one launch");
  return static_cast<unsigned>(b);
}

template <typename OutT>
void launch(OutT* out, uint8_t* tmp, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
            PixelTransform t, Stream stream) {
  VGGTL_CHECK(g.out_h > 0 && g.out_w > 0 && g.in_h > 0 && g.in_w > 0, "resize_preprocess_cuda: empty image");
  VGGTL_CHECK(out && in && table, "resize_preprocess_cuda: null pointer");
  const int64_t n_out = static_cast<int64_t>(g.out_h) * g.out_w;
  if (g.filter == ResizeFilter::Nearest) {
    resize_nearest_kernel<<<blocks_for(n_out), kThreads, 0, stream>>>(out, in, table, g, t);
    KERNEL_CHECK();
    return;
  }
  VGGTL_CHECK(tmp, "resize_preprocess_cuda: bilinear needs ", resize_tmp_bytes(g), " bytes of scratch");
  const int64_t n_tmp = static_cast<int64_t>(g.tmp_rows) * g.out_w;
  resample_horizontal_kernel<<<blocks_for(n_tmp), kThreads, 0, stream>>>(tmp, in, table, g);
  KERNEL_CHECK();
  resample_vertical_kernel<<<blocks_for(n_out), kThreads, 0, stream>>>(out, tmp, table, g, t);
  KERNEL_CHECK();
}

}  // namespace

void resize_preprocess_cuda(float* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream) {
  launch(out, tmp, in, table, g, t, stream);
}

void resize_preprocess_cuda(bf16* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream) {
  launch(out, tmp, in, table, g, t, stream);
}

}  // namespace vggtl
