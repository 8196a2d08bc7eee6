// Reading an untrusted HDF5 file first in a child process: libhdf5 1.10 can crash (SIGSEGV in
// H5HG_read) or hang (H5HG__protect) on a damaged global heap, which no call of ours can avoid
// (docs/reliability.md), so a child walks what the reader will read and the parent turns a
// crash or hang into one InputError naming the file. Tested by tests/io/test_hdf5_precheck.cpp.
#pragma once

#include <functional>
#include <string>

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
// a child of a process with other threads (OpenMP, CUDA, a writer) may deadlock on a lock one
// of them held: the apps call it before any thread starts (precheck_hdf5_file checks that);
// the fuzz harnesses, whose libFuzzer has a watchdog thread, accept the risk. Error when fork or
// pipe fails.
ChildOutcome run_in_child(const std::function<void()>& body, double seconds);

// The threads of this process (Linux: /proc/self/status); 0 when it cannot tell.
int thread_count();

enum class Hdf5Role {
  Weights,     // read as read_keras_weights(path, false) + values: structure walked in the child
  Checkpoint,  // read as read_checkpoint(path): the whole read in the child
};

// The time limit of the child: VGGTL_HDF5_CHECK_SECONDS when set (> 0), else 60 s (a sound
// file's structure takes well under a second; a 59 MB checkpoint about one).
double hdf5_precheck_seconds();

// Runs the reader of `role` on `path` in a child (stderr silenced) and returns when it read
// the file without trouble. Otherwise throws InputError, one line naming the file:
//   the reader's own message when it refused the file ("<path>: not an HDF5 file ..."),
//   "weights file <path> is damaged: the HDF5 library crashed reading it (signal 11)",
//   "... the HDF5 library did not finish reading it in 60 s",
//   "... the HDF5 library failed reading it (exit status 1)".
// Must run while the process has a single thread (Error otherwise): before the first thread,
// OpenMP region or CUDA call.
void precheck_hdf5_file(const std::string& path, Hdf5Role role, double seconds);

}  // namespace vggtl
