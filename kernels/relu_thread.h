// Per-thread work of the ReLU CUDA kernels (kernels/relu.h), swept over the launch grid by
// the CPU test. Tested in tests/kernels/test_relu.cpp.
#pragma once

#include "kernels/relu.h"

namespace vggtl {

// CUDA geometry: one thread per element, blocks of kReluThreads; swept by the CPU test.
constexpr int kReluThreads = 256;
VGGTL_HD void relu_forward_thread(float* y, const float* x, int64_t n, int64_t block, int thread) {
  const int64_t i = block * kReluThreads + thread;
  if (i < n) y[i] = x[i] < 0.f ? 0.f : x[i];
}
VGGTL_HD void relu_backward_thread(float* dx, const float* dy, const float* y, int64_t n,
                                   int64_t block, int thread) {
  const int64_t i = block * kReluThreads + thread;
  if (i < n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

}  // namespace vggtl
