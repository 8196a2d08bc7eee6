// AtomicFile: temporary in the target's folder, fsync, rename(2), fsync of the folder.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

std::string folder_of(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string errno_text() { return std::strerror(errno); }

// Temporaries of `name` left by writers that died (their process no longer exists) are removed,
// so that crashes do not accumulate hidden files.
void remove_stale_temporaries(const std::string& folder, const std::string& name) {
  const std::string prefix = "." + name + ".tmp";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    long pid = std::strtol(file.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '.') continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

}  // namespace

namespace {

// fsync of `path`; errors name `shown` (the file the user knows, not its temporary).
void fsync_named(const std::string& path, bool is_folder, const std::string& shown) {
  int fd = ::open(path.c_str(), O_RDONLY | (is_folder ? O_DIRECTORY : 0) | O_CLOEXEC);
  if (fd < 0) throw Error(shown + ": cannot open to sync (" + errno_text() + ")");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder; the rename itself is still atomic there.
  if (rc != 0 && !(is_folder && (err == EINVAL || err == ENOTSUP)))
    throw Error(shown + ": fsync failed (" + std::strerror(err) + ")");
}

}  // namespace

void fsync_path(const std::string& path, bool is_folder) { fsync_named(path, is_folder, atomic_target_name(path)); }

std::string atomic_target_name(const std::string& path) {
  const fs::path p(path);
  const std::string file = p.filename().string();
  const size_t tmp = file.rfind(".tmp");
  if (file.size() < 2 || file[0] != '.' || tmp == std::string::npos || tmp < 2) return path;
  size_t i = tmp + 4, digits = 0, dots = 0;
  for (; i < file.size(); ++i) {
    if (file[i] == '.') ++dots;
    else if (std::isdigit(static_cast<unsigned char>(file[i]))) ++digits;
    else return path;
  }
  if (dots != 1 || digits < 2) return path;
  return (p.parent_path() / file.substr(1, tmp - 1)).string();
}

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  static std::atomic<unsigned> counter{0};
  std::string folder = folder_of(path);
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw InputError(path + ": cannot write, folder " + folder + " does not exist");
  std::string name = fs::path(path).filename().string();
  remove_stale_temporaries(folder, name);
  temp_ = (fs::path(folder) / ("." + name + ".tmp" + std::to_string(::getpid()) + "." +
                               std::to_string(counter++)))
              .string();
}

AtomicFile::~AtomicFile() {
  if (!committed_) abandon();
}

void AtomicFile::abandon() noexcept {
  std::error_code ec;
  fs::remove(temp_, ec);
}

void AtomicFile::commit() {
  VGGTL_CHECK(!committed_, "AtomicFile::commit called twice for ", path_);
  try {
    fsync_named(temp_, false, path_);
    if (std::rename(temp_.c_str(), path_.c_str()) != 0)
      throw Error(path_ + ": cannot replace (" + errno_text() + ")");
  } catch (...) {
    abandon();
    throw;
  }
  committed_ = true;
  fsync_path(folder_of(path_), true);
}

void write_atomically(const std::string& path,
                      const std::function<void(const std::string& temp_path)>& write) {
  AtomicFile file(path);
  write(file.temp_path());
  file.commit();
}

void write_text_atomically(const std::string& path, const std::string& content) {
  write_atomically(path, [&](const std::string& temp) {
    // write(2) rather than stdio: the errno of the failing call is the one reported.
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(path + ": cannot create (" + errno_text() + ")");
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const std::string why = n < 0 ? errno_text() : std::string("nothing written");
        ::close(fd);
        throw Error(path + ": cannot write (" + why + ")");
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    if (::close(fd) != 0) throw Error(path + ": cannot write (" + errno_text() + ")");
  });
}

}  // namespace vggtl
