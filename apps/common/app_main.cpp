// run_app: maps exceptions to one line on stderr and the spec's exit status.
#include "apps/common/app_main.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
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

int run_app(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const CLI::ParseError& e) {
    // CLI11 throws for --help and --version too (exit code 0).
    if (e.get_exit_code() == 0) return 0;
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the options.\n", name, e.what(), name);
    return 2;
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
    std::fprintf(stderr, "%s: out of memory\n", name);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace vggtl
