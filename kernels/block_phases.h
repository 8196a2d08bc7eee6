// Kernels whose threads share memory and meet at barriers, written so that a CPU test runs the
// very same code. A block program is a struct holding the kernel's arguments, with its block
// shape (kThreadsX, kThreadsY), its shared memory (Shared), the number of barrier-separated
// phases (kPhases) and one thread's work in one phase:
//   VGGTL_HD void operator()(Shared& s, int phase, int64_t block, int tx, int ty) const;
// The kernel runs it with run_block_phases: phases 0, 1, ... with __syncthreads() between them.
// tests/test_util.h's sweep_block_phases runs every thread of a block through phase p before any
// thread starts phase p + 1, which is all the barrier promises.
#pragma once

#include "engine/dtype.h"

namespace vggtl {

#if defined(__CUDACC__)
// The program's phases for this thread, over a 1-D grid of 2-D blocks. `shared` is the kernel's
// __shared__ variable; the loop is unrolled, so each phase's branch on `phase` folds away.
template <typename Program>
__device__ __forceinline__ void run_block_phases(const Program& program,
                                                 typename Program::Shared& shared) {
#pragma unroll
  for (int phase = 0; phase < Program::kPhases; ++phase) {
    if (phase > 0) __syncthreads();
    program(shared, phase, blockIdx.x, static_cast<int>(threadIdx.x),
            static_cast<int>(threadIdx.y));
  }
}
#endif

}  // namespace vggtl
