// CUDA twin of augmentation: one thread per output pixel of the batch, running the
// __host__ __device__ augment_thread of kernels/augment.h (swept on the CPU by the tests).
#include "engine/cuda_check.h"
#include "kernels/augment.h"
#include "kernels/augment_thread.h"

namespace vggtl {

namespace {

template <typename OutT>
__global__ void __launch_bounds__(kAugmentThreads)
    augment_kernel(OutT* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t) {
  augment_thread(blockIdx.x, threadIdx.x, out, in, items, n, h, w, t);
}

template <typename OutT>
void launch(OutT* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t,
            Stream stream) {
  if (n == 0) return;
  VGGTL_CHECK(n > 0 && h > 0 && w > 0, "augment_cuda: bad sizes ", n, "x", h, "x", w);
  VGGTL_CHECK(out && in && items, "augment_cuda: null pointer");
  const int64_t blocks = augment_blocks(n, h, w);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "augment_cuda: ", n, " images of ", h, "x", w,
              " is too many for one launch");
  augment_kernel<<<static_cast<unsigned>(blocks), kAugmentThreads, 0, stream>>>(out, in, items, n, h, w, t);
  KERNEL_CHECK();
}

}  // namespace

void augment_cuda(float* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t,
                  Stream stream) {
  launch(out, in, items, n, h, w, t, stream);
}

void augment_cuda(bf16* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t,
                  Stream stream) {
  launch(out, in, items, n, h, w, t, stream);
}

}  // namespace vggtl
