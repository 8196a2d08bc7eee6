// Bias and ReLU over NHWC activations seen as (M, C): y[m][c] = max(x[m][c] + b[c], 0), computed
// in f32 and rounded once to the element type (f32 or bf16); b is f32; y may alias x. NaN stays NaN.
// The conv layers' epilogue when cuDNN's fused form is not used. Tested by test_bias_relu.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace vggtl {

template <typename T>
void bias_relu_cpu(T* y, const T* x, const float* b, int64_t m, int64_t c);

template <typename T>
void bias_relu_cuda(T* y, const T* x, const float* b, int64_t m, int64_t c, Stream stream);

// y, x: (..., C) f32 or bf16, same dtype and shape (y may be x); b: (C) f32. Same device.
void bias_relu(Tensor& y, const Tensor& x, const Tensor& b);

}  // namespace vggtl
