// A forked child reads the untrusted file; a pipe carries its verdict back (one status byte,
// then the message), and the parent's poll() deadline bounds a hang.
#include "io/hdf5/hdf5_precheck.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "engine/error.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"

namespace vggtl {

namespace {

constexpr char kOk = 'O', kInputError = 'I', kOtherError = 'E';

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent went away: nothing left to tell
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void child_main(int fd, const std::function<void()>& body) {
  std::string report;
  try {
    body();
    report = std::string(1, kOk);
  } catch (const InputError& e) {
    report = kInputError + std::string(e.what());
  } catch (const std::exception& e) {
    report = kOtherError + std::string(e.what());
  } catch (...) {
    report = kOtherError + std::string("unknown exception");
  }
  write_all(fd, report);
  // _exit: no atexit handlers, static destructors or stdio flushes of the parent's state.
  ::_exit(0);
}

// Reads the child's report until EOF or the deadline; false on timeout.
bool read_report(int fd, double seconds, std::string* out) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(seconds));
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(std::string("poll on the child's pipe: ") + std::strerror(errno));
    if (r == 0) return false;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF (or a broken pipe): the child is gone
    out->append(buf, static_cast<size_t>(n));
  }
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(std::string("waitpid: ") + std::strerror(errno));
  }
  return status;
}

}  // namespace

ChildOutcome run_in_child(const std::function<void()>& body, double seconds) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(fds[1], body);
  }
  ::close(fds[1]);
  std::string report;
  bool finished = false;
  try {
    finished = read_report(fds[0], seconds, &report);
  } catch (...) {
    ::close(fds[0]);
    ::kill(pid, SIGKILL);
    reap(pid);
    throw;
  }
  ::close(fds[0]);
  ChildOutcome o;
  if (!finished) {
    ::kill(pid, SIGKILL);
    reap(pid);
    o.kind = ChildOutcome::Kind::Timeout;
    return o;
  }
  const int status = reap(pid);
  if (WIFSIGNALED(status)) {
    o.kind = ChildOutcome::Kind::Signal;
    o.signal = WTERMSIG(status);
  } else if (report.empty() || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
    o.kind = ChildOutcome::Kind::Exit;
    o.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else if (report[0] != kOk) {
    o.kind = ChildOutcome::Kind::Error;
    o.input_error = report[0] == kInputError;
    o.message = report.substr(1);
  }
  return o;
}

int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return 0;
}

double hdf5_precheck_seconds() {
  if (const char* s = std::getenv("VGGTL_HDF5_CHECK_SECONDS")) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end != s && *end == '\0' && v > 0 && std::isfinite(v)) return v;
  }
  return 60;
}

void precheck_hdf5_file(const std::string& path, Hdf5Role role, double seconds) {
  const int threads = thread_count();
  VGGTL_CHECK(threads <= 1, "precheck_hdf5_file(", path, ") must run before any thread starts; the process has ",
              threads, " threads");
  const ChildOutcome o = run_in_child(
      [&] {
        // HDF5's error stack is already off (io/hdf5/hdf5.h); a sanitizer's report on a libhdf5 bug
        // is not for the user either: the parent prints the one line.
        const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
        if (role == Hdf5Role::Weights)
          read_keras_weights(path, /*with_values=*/false);
        else
          read_checkpoint(path);
      },
      seconds);
  const std::string what = (role == Hdf5Role::Weights ? "weights file " : "checkpoint ") + path +
                           " is damaged: the HDF5 library ";
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", seconds);
  switch (o.kind) {
    case ChildOutcome::Kind::Ok: return;
    case ChildOutcome::Kind::Error:
      if (o.input_error) throw InputError(o.message);
      throw Error(o.message);
    case ChildOutcome::Kind::Signal:
      throw InputError(what + "crashed reading it (signal " + std::to_string(o.signal) + ")");
    case ChildOutcome::Kind::Exit:
      throw InputError(what + "failed reading it (exit status " + std::to_string(o.exit_status) + ")");
    case ChildOutcome::Kind::Timeout:
      throw InputError(what + "did not finish reading it in " + secs + " s");
  }
}

}  // namespace vggtl
