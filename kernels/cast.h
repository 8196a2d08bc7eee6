// Element type conversion of n contiguous values on one device: f32 -> bf16 rounds to nearest,
// ties to even (as __float2bfloat16_rn; NaN stays NaN), bf16 -> f32 is exact; f32 <-> f64 on the
// CPU only. Used between a bf16 base and the f32 head. Tested in tests/kernels/test_cast.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace vggtl {

void cast_f32_to_bf16_cpu(bf16* y, const float* x, int64_t n);
void cast_bf16_to_f32_cpu(float* y, const bf16* x, int64_t n);

#if VGGTL_HAVE_CUDA
void cast_f32_to_bf16_cuda(bf16* y, const float* x, int64_t n, Stream stream);
void cast_bf16_to_f32_cuda(float* y, const bf16* x, int64_t n, Stream stream);
#endif

// dst <- src converted; same numel and device. Equal dtypes are a plain copy.
void cast(Tensor& dst, const Tensor& src);

// CUDA geometry: one thread per element, blocks of kCastThreads; swept by the CPU test.
constexpr int kCastThreads = 256;
VGGTL_HD void cast_f32_to_bf16_thread(bf16* y, const float* x, int64_t n, int64_t block,
                                      int thread) {
  const int64_t i = block * kCastThreads + thread;
  if (i < n) y[i] = float_to_bf16(x[i]);
}
VGGTL_HD void cast_bf16_to_f32_thread(float* y, const bf16* x, int64_t n, int64_t block,
                                      int thread) {
  const int64_t i = block * kCastThreads + thread;
  if (i < n) y[i] = bf16_to_float(x[i]);
}

}  // namespace vggtl
