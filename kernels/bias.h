// Bias over the rows of a row-major (rows, cols) matrix: y = x + b broadcast over rows, then
// ReLU (y = max(v, 0), NaN kept) when asked; y may alias x. Gradient: db = column sums of dy,
// reduced in a fixed order on every device. Tested in tests/kernels/test_bias.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace vggtl {

template <typename T>
void bias_add_cpu(T* y, const T* x, const T* b, int64_t rows, int64_t cols, bool relu);
template <typename T>
void bias_grad_cpu(T* db, const T* dy, int64_t rows, int64_t cols);
// f32 db from bf16 dy (the CPU's bf16 fine-tuning), summed in double as the others.
void bias_grad_cpu(float* db, const bf16* dy, int64_t rows, int64_t cols);

void bias_add_cuda(float* y, const float* x, const float* b, int64_t rows, int64_t cols, bool relu,
                   Stream stream);
void bias_grad_cuda(float* db, const float* dy, int64_t rows, int64_t cols, Stream stream);

// Tensor level: x, y (rows, ...) and b (cols) or db (cols), F32 on any device or F64 on the CPU;
// bias_grad also takes a BF16 dy with an F32 db on the CPU.
void bias_add(Tensor& y, const Tensor& x, const Tensor& b, bool relu);
void bias_grad(Tensor& db, const Tensor& dy);

}  // namespace vggtl
