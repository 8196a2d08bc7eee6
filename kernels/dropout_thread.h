// Per-thread work of the dropout CUDA kernel (kernels/dropout.h), swept over the launch grid by
// the CPU test. Tested in tests/kernels/test_dropout.cpp.
#pragma once

#include "kernels/dropout.h"

namespace vggtl {

// CUDA geometry: blocks of kDropoutThreads, thread t handles elements 4t .. 4t+3 with one Philox
// evaluation (offset % 4 == 0 keeps them in one block); swept by the CPU test.
constexpr int kDropoutThreads = 256;
VGGTL_HD void dropout_thread(float* y, const float* x, int64_t n, float rate, float scale,
                             uint64_t seed, uint32_t step, uint64_t offset, int64_t block,
                             int thread) {
  const int64_t first = (block * kDropoutThreads + thread) * 4;
  if (first >= n) return;
  const uint64_t counter = (offset + static_cast<uint64_t>(first)) >> 2;
  const Philox4 r =
      philox4x32_10(static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), step,
                    kRngDropout, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int k = 0; k < 4 && first + k < n; ++k) {
    const bool keep = uint_to_unit_float(r.v[k]) >= rate;
    y[first + k] = keep ? x[first + k] * scale : 0.f;
  }
}

}  // namespace vggtl
