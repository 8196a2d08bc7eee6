// The frame every tool runs in: errors caught at main, one line printed, exit status per spec
// (0 success, 2 bad usage or bad input, 1 anything else, 130 interrupted).
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace vggtl {

// Parses the command line. Returns -1 to go on, or the status to exit with: 0 after --help
// (printed), 2 after a usage error (printed as one line plus a hint).
int parse_command_line(CLI::App& app, int argc, char** argv);

int run_app(const char* name, const std::function<int()>& body);
// Everything --version prints: build, CUDA libraries, devices, CPU backend, file libraries.
std::string full_version_report();

}  // namespace vggtl
