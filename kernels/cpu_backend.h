// The CPU backend's library (oneDNN): version and thread count, for --version and metrics.json.
#pragma once

#include <string>

namespace vggtl {

std::string cpu_backend_version();  // "oneDNN 2.6.3 (OpenMP, 2 threads)"
int cpu_threads();

}  // namespace vggtl
