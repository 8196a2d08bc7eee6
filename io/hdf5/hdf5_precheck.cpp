// run_in_child: a forked child runs a function and a pipe carries its verdict back (one status
// byte, then the message). precheck_hdf5_file: a fresh process of the check program
// (vggtl_hdf5_check) reads the file and its stdout carries the message, its exit status the
// verdict. In both, the parent's poll() deadline bounds a hang.
#include "io/hdf5/hdf5_precheck.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "engine/error.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"

namespace vggtl {

namespace {

constexpr char kOk = 'O', kInputError = 'I', kOtherError = 'E';
// The check program's exit statuses besides 0 (sound) and 64 (usage), its message on stdout.
constexpr int kCheckInputError = 2, kCheckOtherError = 3;

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

// Reads the child's pipe until EOF or the deadline, then reaps it (killed first on timeout) and
// classifies its end. The report is `out`; the exit status is left to the caller.
ChildOutcome finish_child(pid_t pid, int fd, double seconds, std::string* out, int* status);

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(std::string("waitpid: ") + std::strerror(errno));
  }
  return status;
}

ChildOutcome finish_child(pid_t pid, int fd, double seconds, std::string* out, int* status) {
  bool finished = false;
  try {
    finished = read_report(fd, seconds, out);
  } catch (...) {
    ::close(fd);
    ::kill(pid, SIGKILL);
    reap(pid);
    throw;
  }
  ::close(fd);
  ChildOutcome o;
  if (!finished) {
    ::kill(pid, SIGKILL);
    reap(pid);
    o.kind = ChildOutcome::Kind::Timeout;
    return o;
  }
  *status = reap(pid);
  if (WIFSIGNALED(*status)) {
    o.kind = ChildOutcome::Kind::Signal;
    o.signal = WTERMSIG(*status);
  }
  return o;
}

bool is_executable(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
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
  int status = 0;
  ChildOutcome o = finish_child(pid, fds[0], seconds, &report, &status);
  if (o.kind != ChildOutcome::Kind::Ok) return o;
  if (report.empty() || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
    o.kind = ChildOutcome::Kind::Exit;
    o.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else if (report[0] != kOk) {
    o.kind = ChildOutcome::Kind::Error;
    o.input_error = report[0] == kInputError;
    o.message = report.substr(1);
  }
  return o;
}

std::string hdf5_check_program() {
  if (const char* p = std::getenv("VGGTL_HDF5_CHECK_PROGRAM"); p && *p) return p;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.find_last_of('/') + 1);
    if (const std::string beside = dir + kHdf5CheckProgramName; is_executable(beside)) return beside;
  }
#ifdef VGGTL_BUILD_BIN_DIR
  if (const std::string built = std::string(VGGTL_BUILD_BIN_DIR) + "/" + kHdf5CheckProgramName; is_executable(built))
    return built;
#endif
  return "";
}

ChildOutcome run_check_program(const std::vector<std::string>& args, double seconds) {
  const std::string program = hdf5_check_program();
  if (program.empty())
    throw Error(std::string("cannot check HDF5 files: ") + kHdf5CheckProgramName +
                " is neither beside this program nor named by VGGTL_HDF5_CHECK_PROGRAM");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  // The child's stdout is the pipe (dup2 clears close-on-exec on the copy), its stdin and stderr
  // /dev/null: a sanitizer's or libhdf5's own report is not for the user, the parent prints one
  // line. Its signal mask is cleared and its dispositions reset, whatever the caller set.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::fflush(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw Error("cannot start " + program + ": " + std::strerror(rc));
  }
  std::string report;
  int status = 0;
  ChildOutcome o = finish_child(pid, fds[0], seconds, &report, &status);
  if (o.kind != ChildOutcome::Kind::Ok) return o;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) return o;
  if ((code == kCheckInputError || code == kCheckOtherError) && !report.empty()) {
    o.kind = ChildOutcome::Kind::Error;
    o.input_error = code == kCheckInputError;
    o.message = report;
    return o;
  }
  o.kind = ChildOutcome::Kind::Exit;
  o.exit_status = code;
  return o;
}

int hdf5_check_main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "weights") != 0 && std::strcmp(argv[1], "checkpoint") != 0)) {
    std::fprintf(stderr, "usage: %s weights|checkpoint FILE\n", kHdf5CheckProgramName);
    return 64;
  }
  try {
    if (std::strcmp(argv[1], "weights") == 0)
      read_keras_weights(argv[2], /*with_values=*/false);
    else
      read_checkpoint(argv[2]);
    return 0;
  } catch (const InputError& e) {
    std::fputs(e.what(), stdout);
    return kCheckInputError;
  } catch (const std::exception& e) {
    std::fputs(e.what(), stdout);
    return kCheckOtherError;
  }
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
  const ChildOutcome o = run_check_program({role == Hdf5Role::Weights ? "weights" : "checkpoint", path}, seconds);
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
      // Ctrl-C in a terminal reaches the whole process group, the check program too.
      if (o.signal == SIGINT || o.signal == SIGTERM)
        throw Error("interrupted while checking " + path, ErrorKind::Interrupted);
      throw InputError(what + "crashed reading it (signal " + std::to_string(o.signal) + ")");
    case ChildOutcome::Kind::Exit:
      throw InputError(what + "failed reading it (exit status " + std::to_string(o.exit_status) + ")");
    case ChildOutcome::Kind::Timeout:
      throw InputError(what + "did not finish reading it in " + secs + " s");
  }
}

}  // namespace vggtl
