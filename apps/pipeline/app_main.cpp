// run_app: maps exceptions to one line on stderr and the spec's exit status.
#include "apps/pipeline/app_main.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>

#include "apps/pipeline/interrupt.h"
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

int run_app(const char* name, const std::function<int()>& body) {
  // Every line reaches a log file or a pipe when it is printed, not when the tool exits.
  static const bool line_buffered = [] {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    install_interrupt_handler();
    return true;
  }();
  (void)line_buffered;
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    switch (e.kind()) {
      case ErrorKind::BadInput:
      case ErrorKind::Usage: return 2;
      case ErrorKind::Interrupted: return interrupted_exit_status();
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

namespace {

// The nearest existing ancestor of `path` (itself when it exists); "." for a relative path none of
// whose parts exists.
std::filesystem::path nearest_existing(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path p = path;
  while (!p.empty() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  return p.empty() ? std::filesystem::path(".") : p;
}

void check_writable_folder(const std::filesystem::path& folder, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec))
    throw InputError(what + ": " + folder.string() + " is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw InputError(what + ": cannot write in " + folder.string() + " (" + std::strerror(errno) + ")");
}

}  // namespace

void check_output_file(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string what = option + " " + path;
  if (fs::is_directory(path, ec))
    throw InputError(what + " is a folder; give a file name, e.g. " + (fs::path(path) / "features.h5").string());
  const fs::path parent = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  if (!fs::exists(parent, ec)) throw InputError(what + ": the folder " + parent.string() + " does not exist");
  check_writable_folder(parent, what);
}

void check_output_folder(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string what = option + " " + path;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    throw InputError(what + " is a file, not a folder; give a folder (it is created when missing)");
  check_writable_folder(nearest_existing(path), what);
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
