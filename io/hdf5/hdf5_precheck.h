// Reading an untrusted HDF5 file first in another process: libhdf5 1.10 can crash (SIGSEGV in
// H5HG_read) or hang (H5HG__protect) on a damaged global heap, which no call of ours can avoid
// (docs/reliability.md), so a child walks what the reader will read and the parent turns a
// crash or hang into one InputError naming the file. Tested by tests/io/test_hdf5_precheck.cpp.
//
// The apps' child is a fresh program (vggtl_hdf5_check, started with posix_spawn), not a fork:
// a forked copy of a process with other threads may deadlock on a lock one of them held, and
// the tools have threads before they know their files (Open MPI's progress threads exist from
// MPI_Init, before the command line is read; OpenMP's and CUDA's later). A new program shares
// nothing with its parent, so the check is safe at any point, under mpiexec and in a library
// caller alike.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace vggtl {

// What became of a body run by run_in_child.
struct ChildOutcome {
  enum class Kind {
    Ok,       // the body returned
    Error,    // the body threw; `message` is what(), `input_error` whether it was an InputError
    Signal,   // the child died of `signal` (a crash)
    Exit,     // the child ended with `exit_status` without reporting (a sanitizer's report)
    Timeout,  // still running after the time limit: killed
  };
  Kind kind = Kind::Ok;
  std::string message;
  bool input_error = false;
  int signal = 0;
  int exit_status = 0;
};

// Forks, runs `body` in the child (which reports through a pipe and ends with _exit, never
// returning here) and waits at most `seconds` for it. Fork copies only the calling thread, so
// a child of a process with other threads may deadlock on a lock one of them held: only the
// fuzz harnesses use it (their one extra thread is libFuzzer's watchdog), the apps spawn the
// check program instead. Error when fork or pipe fails.
ChildOutcome run_in_child(const std::function<void()>& body, double seconds);

// The check program: reads FILE as `role` would and exits 0 when sound; otherwise prints the
// reader's message on stdout and exits 2 (an InputError) or 3 (another error); 64 on bad usage.
inline constexpr const char* kHdf5CheckProgramName = "vggtl_hdf5_check";
int hdf5_check_main(int argc, char** argv);  // argv: program, "weights"|"checkpoint", FILE

// Where precheck_hdf5_file finds the check program: $VGGTL_HDF5_CHECK_PROGRAM when set, else
// vggtl_hdf5_check beside this executable (the tools' bin/), else the build tree's bin/ (test
// binaries); "" when none is there.
std::string hdf5_check_program();
// Starts the check program with `args` (posix_spawn; stdin and stderr /dev/null, stdout a pipe)
// and waits at most `seconds` for it: Ok (exit 0), Error (exit 2 or 3 with its message), Signal,
// Exit (any other status) or Timeout (killed). Error when the program is missing or cannot start.
ChildOutcome run_check_program(const std::vector<std::string>& args, double seconds);

enum class Hdf5Role {
  Weights,     // read as read_keras_weights(path, false) + values: structure walked in the child
  Checkpoint,  // read as read_checkpoint(path): the whole read in the child
};

// The time limit of the child: VGGTL_HDF5_CHECK_SECONDS when set (> 0), else 60 s (a sound
// file's structure takes well under a second; a 59 MB checkpoint about one).
double hdf5_precheck_seconds();

// Runs the reader of `role` on `path` in the check program and returns when it read the file
// without trouble. Otherwise throws InputError, one line naming the file:
//   the reader's own message when it refused the file ("<path>: not an HDF5 file ..."),
//   "weights file <path> is damaged: the HDF5 library crashed reading it (signal 11)",
//   "... the HDF5 library did not finish reading it in 60 s",
//   "... the HDF5 library failed reading it (exit status 1)".
// A check program ended by SIGINT or SIGTERM (Ctrl-C reaches the whole process group) is an
// interruption (ErrorKind::Interrupted), not a damaged file. Safe with any number of threads.
void precheck_hdf5_file(const std::string& path, Hdf5Role role, double seconds);

}  // namespace vggtl
