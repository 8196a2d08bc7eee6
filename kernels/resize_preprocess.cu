// CUDA twin of resize + preprocess: one thread per output pixel (nearest, and the vertical
// pass of bilinear), one per pixel of the uint8 intermediate (horizontal pass). The per-thread
// work is the __host__ __device__ code in resize_preprocess.h, swept on the CPU by the tests.
// The batched kernels cover every image of a batch per launch (one image per thread block).
#include "engine/cuda_check.h"
#include "kernels/resize_preprocess.h"
#include "kernels/resize_preprocess_thread.h"

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

template <typename OutT>
__global__ void __launch_bounds__(kResizeBatchThreads)
    resize_batch_output_kernel(OutT* out, const uint8_t* tmp, const uint8_t* in, const int32_t* table,
                               const ResizeBatchItem* items, int n, PixelTransform t) {
  resize_batch_output_thread(blockIdx.x, threadIdx.x, out, tmp, in, table, items, n, t);
}

__global__ void __launch_bounds__(kResizeBatchThreads)
    resize_batch_horizontal_kernel(uint8_t* tmp, const uint8_t* in, const int32_t* table,
                                   const ResizeBatchItem* items, int n) {
  resize_batch_horizontal_thread(blockIdx.x, threadIdx.x, tmp, in, table, items, n);
}

template <typename OutT>
void launch_batch(OutT* out, uint8_t* tmp, const uint8_t* in, const int32_t* table, const ResizeBatchItem* items,
                  int n, const ResizeBatchGrid& grid, PixelTransform t, Stream stream) {
  if (n <= 0 || grid.out_ctas <= 0) return;
  VGGTL_CHECK(out && in && table && items, "resize_preprocess_batch_cuda: null pointer");
  VGGTL_CHECK(grid.out_ctas < (int64_t{1} << 31) && grid.tmp_ctas < (int64_t{1} << 31),
              "resize_preprocess_batch_cuda: ", grid.out_ctas, " thread blocks is too many for one launch");
  if (grid.tmp_ctas > 0) {
    VGGTL_CHECK(tmp, "resize_preprocess_batch_cuda: bilinear needs ", grid.tmp_bytes, " bytes of scratch");
    resize_batch_horizontal_kernel<<<static_cast<unsigned>(grid.tmp_ctas), kResizeBatchThreads, 0, stream>>>(
        tmp, in, table, items, n);
    KERNEL_CHECK();
  }
  resize_batch_output_kernel<<<static_cast<unsigned>(grid.out_ctas), kResizeBatchThreads, 0, stream>>>(
      out, tmp, in, table, items, n, t);
  KERNEL_CHECK();
}

}  // namespace

void resize_preprocess_batch_cuda(float* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                                  const ResizeBatchItem* items, int n, const ResizeBatchGrid& grid,
                                  PixelTransform t, Stream stream) {
  launch_batch(out, tmp, in, table, items, n, grid, t, stream);
}

void resize_preprocess_batch_cuda(bf16* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                                  const ResizeBatchItem* items, int n, const ResizeBatchGrid& grid,
                                  PixelTransform t, Stream stream) {
  launch_batch(out, tmp, in, table, items, n, grid, t, stream);
}

void resize_preprocess_cuda(float* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream) {
  launch(out, tmp, in, table, g, t, stream);
}

void resize_preprocess_cuda(bf16* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream) {
  launch(out, tmp, in, table, g, t, stream);
}

}  // namespace vggtl
