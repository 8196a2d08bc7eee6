// CUDA twin of the 2x2 max-pool: each thread runs maxpool2d_thread (maxpool2d.h) for one output
// pixel and one 16-byte vector of channels (or one channel when C or alignment forbid vectors);
// the backward runs maxpool2d_backward_thread for one element of dx.
#include "engine/cuda_check.h"
#include "kernels/maxpool2d.h"
#include "kernels/maxpool2d_thread.h"

namespace vggtl {

namespace {

template <typename T, bool kVec, typename Index>
__global__ void maxpool2d_forward_kernel(T* y, const T* x, Index units, Index h, Index w, Index c) {
  maxpool2d_thread<T, kVec, Index>(y, x, units, h, w, c, blockIdx.x, threadIdx.x);
}

template <typename T, bool kVec>
void launch(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c, Stream stream) {
  const int64_t units = maxpool2d_units<T>(n, h, w, c, kVec);
  if (units <= 0) return;
  const int64_t blocks = ceil_div<int64_t>(units, kMaxPoolThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "maxpool2d: ", units, " units is too many for one launch");
  if (units < (int64_t{1} << 32) - kMaxPoolThreads && h < (int64_t{1} << 31) && w * c < (int64_t{1} << 31)) {
    maxpool2d_forward_kernel<T, kVec, uint32_t><<<static_cast<unsigned>(blocks), kMaxPoolThreads, 0, stream>>>(
        y, x, static_cast<uint32_t>(units), static_cast<uint32_t>(h), static_cast<uint32_t>(w),
        static_cast<uint32_t>(c));
  } else {
    maxpool2d_forward_kernel<T, kVec, int64_t><<<static_cast<unsigned>(blocks), kMaxPoolThreads, 0, stream>>>(
        y, x, units, h, w, c);
  }
  KERNEL_CHECK();
}

}  // namespace

template <typename T>
void maxpool2d_forward_cuda(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c, Stream stream) {
  if (c % Vec16<T>::kSize == 0 && aligned16(x) && aligned16(y)) launch<T, true>(y, x, n, h, w, c, stream);
  else launch<T, false>(y, x, n, h, w, c, stream);
}

namespace {

__global__ void maxpool2d_backward_kernel(float* dx, const float* dy, const float* x, int64_t n, int64_t h,
                                          int64_t w, int64_t c) {
  maxpool2d_backward_thread(dx, dy, x, n, h, w, c, blockIdx.x, threadIdx.x);
}

}  // namespace

void maxpool2d_backward_cuda(float* dx, const float* dy, const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                             Stream stream) {
  const int64_t total = n * h * w * c;
  if (total <= 0) return;
  const int64_t blocks = ceil_div<int64_t>(total, kMaxPoolBackwardThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "maxpool2d_backward: ", total, " elements is too many for one launch");
  maxpool2d_backward_kernel<<<static_cast<unsigned>(blocks), kMaxPoolBackwardThreads, 0, stream>>>(dx, dy, x, n, h,
                                                                                                   w, c);
  KERNEL_CHECK();
}

template void maxpool2d_forward_cuda<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, Stream);
template void maxpool2d_forward_cuda<bf16>(bf16*, const bf16*, int64_t, int64_t, int64_t, int64_t, Stream);

}  // namespace vggtl
