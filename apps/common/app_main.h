// The frame every tool runs in: errors caught at main, one line printed, exit status per spec
// (0 success, 2 bad usage or bad input, 1 anything else, 130 interrupted).
#pragma once

#include <functional>
#include <string>

namespace vggtl {

int run_app(const char* name, const std::function<int()>& body);
// Everything --version prints: build, CUDA libraries, devices, CPU backend, file libraries.
std::string full_version_report();

}  // namespace vggtl
