// Random inputs the kernel and layer tests share: a host tensor of uniform values, and the
// operands of a 3x3 convolution at a given shape (forward: x, w, b; backward: x, w, dy), drawn
// from test::random_floats with fixed seeds so that every failure reproduces.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/conv2d.h"

namespace vggtl::test {

// A CPU tensor of `shape` with values uniform in [lo, hi), stored as `dtype` (F32, BF16 rounded
// to nearest even, or F64).
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi, DType dtype = DType::F32);

// x (n,h,w,c) in [-1, 1), w (3,3,c,k) and b (k) in [-0.5, 0.5): seeds seed, seed + 1, seed + 2.
struct ConvCase {
  Conv2dShape s;
  std::vector<float> x, w, b;
};
ConvCase random_conv_case(const Conv2dShape& s, uint64_t seed);

// The backward's operands: x and w as random_conv_case draws them, dy (n,h,w,k) in [-1, 1) from
// seed + 2.
struct ConvBackwardCase {
  Conv2dShape s;
  std::vector<float> x, w, dy;
};
ConvBackwardCase random_conv_backward_case(const Conv2dShape& s, uint64_t seed);

}  // namespace vggtl::test
