// One writer per folder: an exclusive flock(2) on "<folder>/.lock", which holds the owner's pid
// and tool name. The kernel drops the lock whenever the process ends (a crash or SIGKILL
// included), so a lock file left behind is stale and taken over. Tested by
// tests/io/test_folder_lock.cpp and tests/apps/test_faults_app.cpp.
#pragma once

#include <string>

namespace vggtl {

class FolderLock {
 public:
  // Locks `folder` (which must exist) for `tool`; Error "<folder> is in use by process <pid>
  // (<tool>); wait for it or choose another --out" when another process holds it.
  FolderLock(const std::string& folder, const std::string& tool);
  ~FolderLock();  // removes the lock file and releases the lock
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  const std::string& path() const { return path_; }
  // The pid a stale lock file named when it was taken over (0: there was none).
  long stale_pid() const { return stale_pid_; }

 private:
  std::string path_;
  int fd_ = -1;
  long stale_pid_ = 0;
};

}  // namespace vggtl
