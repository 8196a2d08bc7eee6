// Philox streams written to memory: out[i] = philox_word(seed, stream_id, offset, i), i < n.
// The CPU twin is the specification; the CUDA twin must match it bit for bit, and its per-thread
// work below is swept over the launch grid by tests/kernels/test_random.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/philox.h"
#include "engine/tensor.h"

namespace vggtl {

void philox_fill_cpu(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id, uint32_t offset);
void philox_fill_cuda(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id, uint32_t offset,
                      Stream stream);

// out: I32 tensor on any device, filled with the raw 32-bit words.
void philox_fill(Tensor& out, uint64_t seed, uint32_t stream_id, uint32_t offset);

}  // namespace vggtl
