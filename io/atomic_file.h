// Atomic replacement of a file: write to a temporary file in the same folder, fsync it, rename
// it over the target, fsync the folder. A crash at any point leaves the old complete file or
// the new complete file (and at worst a hidden temporary, removed by the next write of that file
// once its writer's process is gone). Tested by tests/io/test_atomic_file.cpp.
#pragma once

#include <functional>
#include <string>

namespace vggtl {

// One pending replacement of `path`. The temporary file is named ".<name>.tmp<pid>.<n>" in the
// same folder (a rename is atomic only within one file system). Destroying an AtomicFile that
// was not committed removes the temporary and leaves `path` untouched.
class AtomicFile {
 public:
  // InputError when the folder of `path` does not exist.
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  bool committed() const { return committed_; }

  // The temporary must be complete and closed by its writer. Throws Error (and removes the
  // temporary) when it cannot be synced or renamed.
  void commit();
  // Removes the temporary if it exists; never throws.
  void abandon() noexcept;

 private:
  std::string path_, temp_;
  bool committed_ = false;
};

// Runs `write(temp_path)` and commits; when `write` throws, the temporary is removed, `path` is
// untouched and the exception propagates.
void write_atomically(const std::string& path,
                      const std::function<void(const std::string& temp_path)>& write);
void write_text_atomically(const std::string& path, const std::string& content);

// The file an AtomicFile temporary (".<name>.tmp<pid>.<n>") stands for, so that errors name the
// file the user knows; any other path is returned as it is.
std::string atomic_target_name(const std::string& path);

// fsync of a file or a folder by path; Error on failure (file systems that cannot sync a
// folder are tolerated).
void fsync_path(const std::string& path, bool is_folder);

}  // namespace vggtl
