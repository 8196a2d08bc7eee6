// FolderLock: flock(2) on a lock file that is removed at the end. Removing it opens a race (a
// second process may hold the removed file's descriptor and lock it after we let go), so a
// process that got the lock checks that the file it locked is still the one at the path, and
// starts again when it is not.
#include "io/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"

namespace vggtl {

namespace {

std::string read_all(int fd) {
  std::string s;
  char buf[256];
  off_t at = 0;
  while (s.size() < 4096) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
    at += n;
  }
  return s;
}

// "pid tool" as written by the owner.
void parse_owner(const std::string& text, long* pid, std::string* tool) {
  char* end = nullptr;
  *pid = std::strtol(text.c_str(), &end, 10);
  std::string rest = end ? std::string(end) : std::string();
  const size_t b = rest.find_first_not_of(" \t");
  rest = b == std::string::npos ? "" : rest.substr(b);
  const size_t e = rest.find_first_of("\r\n");
  *tool = e == std::string::npos ? rest : rest.substr(0, e);
}

}  // namespace

FolderLock::FolderLock(const std::string& folder, const std::string& tool) : path_(folder + "/.lock") {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw Error(path_ + ": cannot create the lock file of " + folder + " (" + std::strerror(errno) + ")");
    int rc;
    do rc = ::flock(fd, LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      long pid = 0;
      std::string owner;
      parse_owner(read_all(fd), &pid, &owner);
      ::close(fd);
      if (err != EWOULDBLOCK)
        throw Error(path_ + ": cannot lock " + folder + " (" + std::strerror(err) + ")");
      if (pid <= 0) {  // the owner has not written its pid yet
        ::usleep(10000);
        continue;
      }
      throw Error(folder + " is in use by process " + std::to_string(pid) + " (" +
                  (owner.empty() ? std::string("unknown tool") : owner) +
                  "); wait for it or choose another --out");
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) != 0 || ::stat(path_.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev) {
      ::close(fd);  // the previous owner removed the file we locked: lock the new one
      continue;
    }
    std::string tool_name;
    parse_owner(read_all(fd), &stale_pid_, &tool_name);
    if (stale_pid_ < 0) stale_pid_ = 0;
    const std::string line = std::to_string(::getpid()) + " " + tool + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
      const int err = errno;
      ::close(fd);
      ::unlink(path_.c_str());
      throw Error(path_ + ": cannot write the lock file of " + folder + " (" + std::strerror(err) + ")");
    }
    fd_ = fd;
    return;
  }
  throw Error(path_ + ": cannot lock " + folder + " (the lock file keeps changing)");
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace vggtl
