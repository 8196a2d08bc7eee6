// Inverted dropout over n values: y_i = x_i * scale * [u_i >= rate], scale = 1/(1 - rate),
// u_i = philox_uniform(seed, kRngDropout, step, offset + i). A counter-based draw, so the CPU and
// the GPU keep exactly the same elements; applied to dy with the same arguments it is the
// backward. Tested in tests/kernels/test_dropout.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/philox.h"
#include "engine/tensor.h"

namespace vggtl {

// rate in [0, 1).
template <typename T>
void dropout_cpu(T* y, const T* x, int64_t n, float rate, uint64_t seed, uint32_t step,
                 uint64_t offset);

void dropout_cuda(float* y, const float* x, int64_t n, float rate, uint64_t seed, uint32_t step,
                  uint64_t offset, Stream stream);

// Tensor level: same shapes, F32 on any device or F64 on the CPU; y may alias x. offset must be
// a multiple of 4 (the GPU uses each Philox block of four words whole).
void dropout(Tensor& y, const Tensor& x, float rate, uint64_t seed, uint32_t step, uint64_t offset);

inline double dropout_scale(float rate) { return 1.0 / (1.0 - static_cast<double>(rate)); }

}  // namespace vggtl
