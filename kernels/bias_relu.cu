// CUDA twin of bias + ReLU: each thread runs bias_relu_thread (bias_relu.h) on one 16-byte
// vector when the channel count and alignment allow, else on one element.
#include "engine/cuda_check.h"
#include "kernels/bias_relu.h"
#include "kernels/bias_relu_thread.h"

namespace vggtl {

namespace {

template <typename T, bool kVec, typename Index>
__global__ void bias_relu_kernel(T* y, const T* x, const float* b, Index units, Index c) {
  bias_relu_thread<T, kVec, Index>(y, x, b, units, c, blockIdx.x, threadIdx.x);
}

template <typename T, bool kVec>
void launch(T* y, const T* x, const float* b, int64_t units, int64_t c, Stream stream) {
  const int64_t blocks = ceil_div<int64_t>(units, kBiasReluThreads);
  VGGTL_CHECK(blocks < (int64_t{1} << 31), "bias_relu: ", units, " units is too many for one launch");
  if (units < (int64_t{1} << 32) - kBiasReluThreads) {
    bias_relu_kernel<T, kVec, uint32_t><<<static_cast<unsigned>(blocks), kBiasReluThreads, 0, stream>>>(
        y, x, b, static_cast<uint32_t>(units), static_cast<uint32_t>(c));
  } else {
    bias_relu_kernel<T, kVec, int64_t><<<static_cast<unsigned>(blocks), kBiasReluThreads, 0, stream>>>(
        y, x, b, units, c);
  }
  KERNEL_CHECK();
}

}  // namespace

template <typename T>
void bias_relu_cuda(T* y, const T* x, const float* b, int64_t m, int64_t c, Stream stream) {
  if (m <= 0 || c <= 0) return;
  const bool vec = c % Vec16<T>::kSize == 0 && aligned16(x) && aligned16(y);
  if (vec) launch<T, true>(y, x, b, bias_relu_units<T>(m, c, true), c, stream);
  else launch<T, false>(y, x, b, bias_relu_units<T>(m, c, false), c, stream);
}

template void bias_relu_cuda<float>(float*, const float*, const float*, int64_t, int64_t, Stream);
template void bias_relu_cuda<bf16>(bf16*, const bf16*, const float*, int64_t, int64_t, Stream);

}  // namespace vggtl
