// The CPU backend's library (oneDNN on GNU OpenMP): version, thread count and the OpenMP wait
// policy, for --version, metrics.json and benches; the restart that sets that policy; and the
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
