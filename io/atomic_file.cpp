// AtomicFile: temporary in the target's folder, fsync, rename(2), fsync of the folder.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
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

void fsync_path(const std::string& path, bool is_folder) {
  int fd = ::open(path.c_str(), O_RDONLY | (is_folder ? O_DIRECTORY : 0) | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open to sync (" + errno_text() + ")");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder; the rename itself is still atomic there.
  if (rc != 0 && !(is_folder && (err == EINVAL || err == ENOTSUP)))
    throw Error(path + ": fsync failed (" + std::strerror(err) + ")");
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
    fsync_path(temp_, false);
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
    std::FILE* f = std::fopen(temp.c_str(), "wb");
    if (!f) throw Error(temp + ": cannot create (" + errno_text() + ")");
    size_t n = std::fwrite(content.data(), 1, content.size(), f);
    bool ok = n == content.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) throw Error(path + ": cannot write (" + errno_text() + ")");
  });
}

}  // namespace vggtl
