// Reusable buffers and host<->tensor value helpers for layers and the model. A buffer grows to
// the largest size asked of it and later requests are views into it, so a training loop with a
// fixed batch size allocates nothing after its first step (a smaller last batch is a view).
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace vggtl {

// A tensor of `shape` and `dtype` on `device` over `storage`'s memory; `storage` (flat) is
// replaced by a larger allocation only when it is too small or of another dtype or device.
Tensor reuse_buffer(Tensor& storage, const Shape& shape, DType dtype, Device device);

// `shape` with the batch dimension `n` put in front, and the reverse.
Shape with_batch(const Shape& sample, int64_t n);
Shape without_batch(const Shape& shape);

// Values of a F32 or F64 tensor on any device, as doubles (synchronises), and the reverse.
std::vector<double> read_values(const Tensor& t);
void write_values(Tensor& t, const std::vector<double>& values);

}  // namespace vggtl
