// run_app: maps exceptions to one line on stderr and the spec's exit status.
#include "apps/pipeline/app_main.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>

#include "apps/pipeline/interrupt.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "io/versions.h"
#include "kernels/cpu_backend.h"

namespace vggtl {

std::string full_version_report(OpenLibraries open) {
  return version_report(open) + "cpu backend: " + cpu_backend_version() + "\nfiles: " +
         io_library_versions() + "\n";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: insertions, deletions, substitutions and swaps of neighbours.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string closest_option(const std::string& typed, const std::vector<std::string>& options) {
  std::string dashed = typed;  // --image_size means --image-size
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  std::string best;
  size_t best_distance = std::string::npos;
  for (const std::string& o : options) {
    const size_t d = edit_distance(dashed, o);
    const bool prefix = dashed.size() >= 5 && (o.compare(0, dashed.size(), dashed) == 0 ||
                                               dashed.compare(0, o.size(), o) == 0);
    const bool close = d <= 2 && 2 * d < o.size();
    if ((close || prefix) && d < best_distance) {
      best = o;
      best_distance = d;
    }
  }
  return best;
}

namespace {

// The first --word on the command line that names no option of `app`, or "".
std::string unknown_option(const CLI::App& app, int argc, char** argv, std::vector<std::string>* known) {
  for (const CLI::Option* o : app.get_options())
    for (const std::string& name : o->get_lnames()) known->push_back("--" + name);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) continue;
    const std::string name = arg.substr(0, arg.find('='));
    if (std::find(known->begin(), known->end(), name) == known->end()) return name;
  }
  return "";
}

}  // namespace

int parse_command_line(CLI::App& app, int argc, char** argv) {
  // Before the checks of required options, so that `vggtl_eval --version` needs no --model.
  if (app.get_option_no_throw("--version") == nullptr)
    app.set_version_flag("--version", [] { return full_version_report(); },
                         "Print version, build options, libraries and devices, then exit");
  std::string name = argv[0];
  name = name.substr(name.find_last_of('/') + 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    std::fputs(e.what(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    // CLI11 says "The following arguments were not expected: 5 --epoch"; name the option and
    // the one that was probably meant instead.
    std::vector<std::string> known;
    const std::string unknown = unknown_option(app, argc, argv, &known);
    if (!unknown.empty()) {
      const std::string meant = closest_option(unknown, known);
      const std::string hint = meant.empty() ? " (see " + name + " --help)" : "; did you mean " + meant + "?";
      std::fprintf(stderr, "%s: unknown option %s%s\n", name.c_str(), unknown.c_str(), hint.c_str());
      return 2;
    }
    std::fprintf(stderr, "%s: %s (see %s --help)\n", name.c_str(), e.what(), name.c_str());
    return 2;
  }
  return -1;
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
    // An interruption is no error: a process that logs only errors (an mpiexec rank other than
    // 0, which got the same Ctrl-C) leaves its telling to rank 0.
    if (e.kind() != ErrorKind::Interrupted || log_level() < LogLevel::Error)
      std::fprintf(stderr, "%s: %s\n", name, e.what());
    switch (e.kind()) {
      case ErrorKind::BadInput:
      case ErrorKind::Usage: return 2;
      case ErrorKind::Interrupted: return interrupted_exit_status();
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
