// The frame every tool runs in: errors caught at main, one line printed, exit status per spec
// (0 success, 2 bad usage or bad input, 1 anything else, 130 interrupted by SIGINT, 143 by SIGTERM).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "io/hdf5/hdf5_precheck.h"

namespace CLI {
class App;
}

namespace vggtl {

// Parses the command line. Returns -1 to go on, or the status to exit with: 0 after --help or
// --version (printed; --version is added unless the tool has its own), 2 after a usage error
// (printed as one line plus a hint; an unknown option is named with the closest real one:
// "unknown option --epoch; did you mean --epochs?").
int parse_command_line(CLI::App& app, int argc, char** argv);

// The option of `options` ("--epochs", ...) that `typed` probably meant: the nearest by edit
// distance (at most 2, and under half its length) or one that it is a prefix of or that is a
// prefix of it, with underscores read as dashes; "" when none is close.
std::string closest_option(const std::string& typed, const std::vector<std::string>& options);
size_t edit_distance(const std::string& a, const std::string& b);

// The first call also makes stdout line-buffered (a log file or pipe gets each line as it is
// printed) and installs the Ctrl-C / SIGTERM handler (apps/pipeline/interrupt.h). An Error of
// kind Interrupted exits 128 + the signal.
int run_app(const char* name, const std::function<int()>& body);
// Reads each untrusted HDF5 file the command will open in another process first
// (io/hdf5/hdf5_precheck.h), so that a file that crashes or hangs libhdf5 ends the command with one
// line naming it. Empty paths, "none" and missing files are skipped (the readers report those).
// Call it right after the command line is parsed, before the expensive work; the check program
// is a fresh process, so MPI's, OpenMP's or CUDA's threads may already run.
void precheck_hdf5_inputs(const std::vector<std::pair<std::string, Hdf5Role>>& files);

// Output paths, checked before any work (InputError, one line naming the option and the path):
// a file must not be an existing folder, and the folder it goes into must exist and be writable;
// a folder must not be an existing file, and the nearest existing folder at or above it must be
// writable (it is created later).
void check_output_file(const std::string& path, const std::string& option);
void check_output_folder(const std::string& path, const std::string& option);

// Everything --version prints: build, CUDA libraries, devices, CPU backend, file libraries.
std::string full_version_report(OpenLibraries open = OpenLibraries::All);

}  // namespace vggtl
