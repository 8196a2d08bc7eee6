// run_app: maps exceptions to one line on stderr and the spec's exit status.
#include "apps/pipeline/app_main.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>

#include "engine/device.h"
#include "engine/error.h"
#include "io/versions.h"
#include "kernels/cpu_backend.h"

namespace vggtl {

std::string full_version_report() {
  return version_report() + "cpu backend: " + cpu_backend_version() + "\nfiles: " +
         io_library_versions() + "\n";
}

int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string name = argv[0];
    name = name.substr(name.find_last_of('/') + 1);
    std::fprintf(stderr, "%s: %s (see %s --help)\n", name.c_str(), e.what(), name.c_str());
    return 2;
  }
}

namespace {

const char* app_name = "vggtl";

// An allocation that fails on a thread with no handler of its own (an OpenMP region in the CPU
// backend, a library's worker) ends in std::terminate. Under a memory limit (ulimit -v) that
// is the limit, not a bug: one line and exit status 1 instead of an abort. Anything else still
// aborts, so that real bugs stay loud.
[[noreturn]] void on_terminate() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "%s: out of memory in a worker thread (a memory limit such as ulimit -v?); "
                           "raise the limit, or lower --batch-size, --image-size or --workers\n", app_name);
      std::fflush(stderr);
      std::_Exit(1);
    } catch (...) {
    }
  }
  std::abort();
}

}  // namespace

int run_app(const char* name, const std::function<int()>& body) {
  app_name = name;
  std::set_terminate(on_terminate);
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    switch (e.kind()) {
      case ErrorKind::BadInput:
      case ErrorKind::Usage: return 2;
      case ErrorKind::Interrupted: return 130;
      case ErrorKind::Internal: return 1;
    }
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory (a memory limit such as ulimit -v?); raise the limit, or lower "
                         "--batch-size, --image-size or --workers\n", name);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

void precheck_hdf5_inputs(const std::vector<std::pair<std::string, Hdf5Role>>& files) {
  const double seconds = hdf5_precheck_seconds();
  for (const auto& [path, role] : files) {
    std::error_code ec;
    if (path.empty() || path == "none" || !std::filesystem::is_regular_file(path, ec)) continue;
    precheck_hdf5_file(path, role, seconds);
  }
}

}  // namespace vggtl
