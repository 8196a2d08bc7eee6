// The CPU backend's library (oneDNN on GNU OpenMP): version, thread count and the OpenMP wait
// policy, for --version, metrics.json and benches; and the restart that sets that policy.
#pragma once

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

}  // namespace vggtl
