// ReLU, elementwise over n values: y = max(x, 0) (NaN kept, as tf.nn.relu); backward
// dx = dy where y > 0, else 0 (the gradient at 0 is 0, as TF's ReluGrad).
// Tested in tests/kernels/test_relu.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace vggtl {

template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n);
template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n);
// bf16 (the CPU's bf16 fine-tuning): a selection, so exact; y > 0 compared as float.
template <>
void relu_backward_cpu<bf16>(bf16* dx, const bf16* dy, const bf16* y, int64_t n);

void relu_forward_cuda(float* y, const float* x, int64_t n, Stream stream);
void relu_backward_cuda(float* dx, const float* dy, const float* y, int64_t n, Stream stream);

// Tensor level: same shapes, F32 on any device or F64 on the CPU (relu_backward also BF16 on the
// CPU); y may alias x, dx may alias dy.
void relu_forward(Tensor& y, const Tensor& x);
void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y);

}  // namespace vggtl
