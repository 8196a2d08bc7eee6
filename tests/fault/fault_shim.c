/* LD_PRELOAD shim that makes write-side system calls fail the way a full, broken or read-only
 * disk does, at the libc boundary every writer in the process goes through (our own write(2)
 * calls, libhdf5's sec2 driver, rename(2)), so the tools are tested as built, with no mock
 * inside vggtl. Only calls on files under VGGTL_FAULT_DIR count; the counted calls are numbered
 * from 0 in the order they happen (all threads), and the test picks which one fails:
 *   VGGTL_FAULT_DIR=/abs/folder   files under it count (fds resolved through /proc/self/fd)
 *   VGGTL_FAULT_MATCH=CLASS:FILE  only calls of that class (open, write, fsync, rename or *) on
 *                                 that file count for VGGTL_FAULT_AT: "fsync:last.h5" (its
 *                                 temporaries included), "fsync:." (the folder itself); a file is
 *                                 written by one thread, so the Nth such call is the same in every
 *                                 run, where the order of all calls varies with thread timing
 *   VGGTL_FAULT_AT=N              the Nth counted (and matching) call fails (unset or negative:
 *                                 none fails)
 *   VGGTL_FAULT_PERSIST=1         ... and every counted call after it (a full disk stays full)
 *   VGGTL_FAULT_ERRNO=ENOSPC|EIO|EROFS|EDQUOT   the error (default ENOSPC)
 *   VGGTL_FAULT_KILL=1            counted call N is not made: the process is SIGKILLed there
 *                                 (a power cut in the middle of a checkpoint write or rename)
 *   VGGTL_FAULT_FREE_BYTES=N      statvfs of a path under the folder reports N bytes free
 *   VGGTL_FAULT_LOG=FILE          appends "N op path" for every counted call (to plan a sweep)
 * Counted calls: open (for writing), write, pwrite, writev, pwritev, ftruncate, fsync,
 * fdatasync, rename, renameat. Used by tests/apps/test_faults_app.cpp and
 * scripts/fault_campaign.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long counted_calls, matched_calls;
static atomic_int tripped;

static const char* fault_dir(void) {
  static const char* dir;
  static int init;
  if (!init) {
    dir = getenv("VGGTL_FAULT_DIR");
    if (dir && !*dir) dir = NULL;
    init = 1;
  }
  return dir;
}

static int fault_errno(void) {
  const char* e = getenv("VGGTL_FAULT_ERRNO");
  if (!e || !*e || strcmp(e, "ENOSPC") == 0) return ENOSPC;
  if (strcmp(e, "EIO") == 0) return EIO;
  if (strcmp(e, "EROFS") == 0) return EROFS;
  if (strcmp(e, "EDQUOT") == 0) return EDQUOT;
  return ENOSPC;
}

static int under_dir(const char* path) {
  const char* dir = fault_dir();
  if (!dir || !path) return 0;
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') --n;
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Absolute form of `path` (not resolving links: the tests give absolute folders). */
static void absolute(const char* path, char* out, size_t size) {
  if (path[0] == '/' || !getcwd(out, size)) {
    snprintf(out, size, "%s", path);
    return;
  }
  size_t n = strlen(out);
  snprintf(out + n, size - n, "/%s", path);
}

static int fd_path(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, link, out, size - 1);
  if (n < 0) return 0;
  out[n] = '\0';
  return 1;
}

static void log_call(long index, const char* op, const char* path) {
  const char* log = getenv("VGGTL_FAULT_LOG");
  if (!log || !*log) return;
  char line[PATH_MAX + 64];
  int n = snprintf(line, sizeof line, "%ld %s %s\n", index, op, path);
  int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (syscall(SYS_write, fd, line, (size_t)n) < 0) {
    /* nothing to do: the log is best effort */
  }
  syscall(SYS_close, fd);
}

static const char* op_class(const char* op) {
  if (strcmp(op, "open") == 0 || strcmp(op, "rename") == 0) return op;
  if (strcmp(op, "fsync") == 0 || strcmp(op, "fdatasync") == 0) return "fsync";
  return "write";
}

/* "last.h5" for ".../.last.h5.tmp12.3" and ".../last.h5"; "." for the folder itself. */
static void file_kind(const char* path, char* out, size_t size) {
  const char* dir = fault_dir();
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') --n;
  if (strlen(path) <= n + 1) {
    snprintf(out, size, ".");
    return;
  }
  const char* name = strrchr(path, '/');
  name = name ? name + 1 : path;
  const char* tmp = strstr(name, ".tmp");
  if (name[0] == '.' && tmp && tmp > name + 1)
    snprintf(out, size, "%.*s", (int)(tmp - name - 1), name + 1);
  else
    snprintf(out, size, "%s", name);
}

static int matches(const char* op, const char* path) {
  const char* match = getenv("VGGTL_FAULT_MATCH");
  if (!match || !*match) return 1;
  const char* colon = strchr(match, ':');
  if (!colon) return 1;
  const char* cls = op_class(op);
  if (!(colon - match == 1 && match[0] == '*') &&
      !(strlen(cls) == (size_t)(colon - match) && strncmp(cls, match, (size_t)(colon - match)) == 0))
    return 0;
  char kind[PATH_MAX];
  file_kind(path, kind, sizeof kind);
  return strcmp(kind, colon + 1) == 0;
}

static int env_is_1(const char* name) {
  const char* v = getenv(name);
  return v && strcmp(v, "1") == 0;
}

/* 1 when this call (on `path`) must fail; counts it when it is under the folder. */
static int should_fail(const char* op, const char* path) {
  if (!under_dir(path)) return 0;
  long index = atomic_fetch_add(&counted_calls, 1);
  log_call(index, op, path);
  if (atomic_load(&tripped) && env_is_1("VGGTL_FAULT_PERSIST")) return 1;
  const char* at = getenv("VGGTL_FAULT_AT");
  if (!at || !*at || !matches(op, path)) return 0;
  long n = strtol(at, NULL, 10);
  long m = atomic_fetch_add(&matched_calls, 1);
  if (n < 0 || m != n) return 0;
  if (env_is_1("VGGTL_FAULT_KILL")) syscall(SYS_kill, (long)getpid(), SIGKILL);
  atomic_store(&tripped, 1);
  return 1;
}

static int fd_should_fail(const char* op, int fd) {
  char path[PATH_MAX];
  if (!fault_dir() || !fd_path(fd, path, sizeof path)) return 0;
  return should_fail(op, path);
}

#define REAL(ret, name, ...)                                  \
  static ret (*real)(__VA_ARGS__);                            \
  if (!real) real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(ssize_t, "write", int, const void*, size_t);
  if (fd > 2 && fd_should_fail("write", fd)) return errno = fault_errno(), -1;
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(ssize_t, "pwrite", int, const void*, size_t, off_t);
  if (fd_should_fail("pwrite", fd)) return errno = fault_errno(), -1;
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  REAL(ssize_t, "pwrite64", int, const void*, size_t, off_t);
  if (fd_should_fail("pwrite", fd)) return errno = fault_errno(), -1;
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  REAL(ssize_t, "writev", int, const struct iovec*, int);
  if (fd > 2 && fd_should_fail("writev", fd)) return errno = fault_errno(), -1;
  return real(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
  REAL(ssize_t, "pwritev", int, const struct iovec*, int, off_t);
  if (fd_should_fail("pwritev", fd)) return errno = fault_errno(), -1;
  return real(fd, iov, count, off);
}

int ftruncate(int fd, off_t length) {
  REAL(int, "ftruncate", int, off_t);
  if (fd_should_fail("ftruncate", fd)) return errno = fault_errno(), -1;
  return real(fd, length);
}

int ftruncate64(int fd, off_t length) {
  REAL(int, "ftruncate64", int, off_t);
  if (fd_should_fail("ftruncate", fd)) return errno = fault_errno(), -1;
  return real(fd, length);
}

int fsync(int fd) {
  REAL(int, "fsync", int);
  if (fd_should_fail("fsync", fd)) return errno = fault_errno(), -1;
  return real(fd);
}

int fdatasync(int fd) {
  REAL(int, "fdatasync", int);
  if (fd_should_fail("fdatasync", fd)) return errno = fault_errno(), -1;
  return real(fd);
}

int rename(const char* from, const char* to) {
  REAL(int, "rename", const char*, const char*);
  char path[PATH_MAX];
  absolute(to, path, sizeof path);
  if (fault_dir() && should_fail("rename", path)) return errno = fault_errno(), -1;
  return real(from, to);
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  REAL(int, "renameat", int, const char*, int, const char*);
  char path[PATH_MAX];
  absolute(to, path, sizeof path);
  if (fault_dir() && to_dir == AT_FDCWD && should_fail("rename", path)) return errno = fault_errno(), -1;
  return real(from_dir, from, to_dir, to);
}

static int open_for_writing(const char* path, int flags) {
  if (!fault_dir() || (flags & (O_WRONLY | O_RDWR | O_CREAT)) == 0) return 0;
  char abs[PATH_MAX];
  absolute(path, abs, sizeof abs);
  return should_fail("open", abs);
}

/* open and open64 are the same wrapper under two names (the variadic mode must be read here). */
#define WRAP_OPEN(name)                                                          \
  int name(const char* path, int flags, ...) {                                   \
    REAL(int, #name, const char*, int, ...);                                     \
    mode_t mode = 0;                                                             \
    if (flags & (O_CREAT | O_TMPFILE)) {                                         \
      va_list ap;                                                                \
      va_start(ap, flags);                                                       \
      mode = va_arg(ap, mode_t);                                                 \
      va_end(ap);                                                                \
    }                                                                            \
    if (open_for_writing(path, flags)) return errno = fault_errno(), -1;         \
    return real(path, flags, mode);                                              \
  }
WRAP_OPEN(open)
WRAP_OPEN(open64)

static void limit_free(const char* path, struct statvfs* st) {
  const char* free_bytes = getenv("VGGTL_FAULT_FREE_BYTES");
  char abs[PATH_MAX];
  if (!free_bytes || !*free_bytes || !fault_dir()) return;
  absolute(path, abs, sizeof abs);
  if (!under_dir(abs) || st->f_frsize == 0) return;
  st->f_bavail = st->f_bfree = (fsblkcnt_t)(strtoull(free_bytes, NULL, 10) / st->f_frsize);
}

int statvfs(const char* path, struct statvfs* st) {
  REAL(int, "statvfs", const char*, struct statvfs*);
  int rc = real(path, st);
  if (rc == 0) limit_free(path, st);
  return rc;
}

int statvfs64(const char* path, struct statvfs64* st) {
  REAL(int, "statvfs64", const char*, struct statvfs64*);
  int rc = real(path, st);
  /* the same layout as struct statvfs on 64-bit Linux */
  if (rc == 0 && sizeof(struct statvfs64) == sizeof(struct statvfs)) limit_free(path, (struct statvfs*)st);
  return rc;
}
