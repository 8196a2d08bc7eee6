// Per-thread work of philox_fill's CUDA kernel (kernels/random.h), swept over the launch grid by
// the CPU test. Tested in tests/kernels/test_random.cpp.
#pragma once

#include "kernels/random.h"

namespace vggtl {

// CUDA geometry: blocks of kPhiloxFillThreads, thread t writes words 4t .. 4t+3 from one Philox
// evaluation, so each is used whole; the thread of a partial last group writes only the words
// below n.
constexpr int kPhiloxFillThreads = 256;
inline int64_t philox_fill_blocks(int64_t n) {
  return (n + 4 * int64_t{kPhiloxFillThreads} - 1) / (4 * int64_t{kPhiloxFillThreads});
}

VGGTL_HD void philox_fill_thread(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id,
                                 uint32_t offset, int64_t block, int thread) {
  const int64_t group = block * kPhiloxFillThreads + thread;
  const int64_t first = group * 4;
  if (first >= n) return;
  const Philox4 r = philox4x32_10(static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32),
                                  offset, stream_id, static_cast<uint32_t>(seed),
                                  static_cast<uint32_t>(seed >> 32));
  for (int k = 0; k < 4 && first + k < n; ++k) out[first + k] = r.v[k];
}

}  // namespace vggtl
