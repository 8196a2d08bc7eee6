// The CPU backend's library (oneDNN on GNU OpenMP): version, thread count, instruction set (bf16
// or not) and the OpenMP wait policy, for --version, metrics.json and benches; the restart that sets that policy; and the
// one-image-per-thread loop that the Winograd convolution and image-by-image chains share.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace vggtl {

std::string cpu_backend_version();  // "oneDNN 2.6.3 (2 threads, OMP_WAIT_POLICY=PASSIVE)"
int cpu_threads();
// OMP_WAIT_POLICY and GOMP_SPINCOUNT as libgomp read them at start-up.
std::string cpu_wait_policy();

// The instruction set oneDNN uses here ("avx512_core_bf16", "avx512_core_amx", ...), after
// ONEDNN_MAX_CPU_ISA; and whether it has native bf16 (AVX512-BF16 or AMX-BF16), which
// --precision bf16 on the CPU needs. oneDNN 2.6 would also run bf16 on plain AVX-512 by emulation,
// slower than our fp32 Winograd, so the tools refuse instead (cpu_bf16_unsupported_reason()).
std::string cpu_isa_name();
bool cpu_has_bf16();
// One line for a CPU without bf16: "this CPU has no AVX512-BF16 or AMX (oneDNN uses avx2)".
std::string cpu_bf16_unsupported_reason();

// First thing in main(): unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, sets
// OMP_WAIT_POLICY=PASSIVE and executes the program again (/proc/self/exe, same argv), because
// libgomp reads it only when it is loaded. Idle threads then sleep at once instead of spinning,
// which keeps a busy machine from multiplying the cost of every parallel region (see
// cpu_backend.cpp). Returns only when nothing was to be done or the restart failed.
void restart_with_openmp_wait_policy(char** argv);

// The threads a parallel loop started here would get: OpenMP's team size, 1 inside a parallel
// region (no nesting) or in a build without OpenMP.
int cpu_team_threads();

// How many of a batch's n images run one per thread on `threads` threads: whole rounds of the
// threads, and the last round too where it keeps more than half of them busy. The rest (fewer
// than half the threads) are better run one after another with all threads on each.
int64_t images_one_per_thread(int64_t n, int threads);

// fn(i) for every i in [0, count), one index at a time per thread on `threads` OpenMP threads
// (dynamic: a thread the scheduler held back takes fewer). After a call throws, no further index
// starts, and the first exception is thrown again once the region has ended. On the calling
// thread alone where threads < 2.
void for_each_image_on_threads(int64_t count, int threads, const std::function<void(int64_t)>& fn);

}  // namespace vggtl
