// Recursive collection in byte-wise sorted order, so the output order never depends on the
// file system.
#include "apps/common/file_list.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {
void walk(const fs::path& dir, std::vector<std::string>* out) {
  std::vector<fs::path> files, dirs;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name[0] == '.') continue;
    if (e.is_directory(ec)) dirs.push_back(e.path());
    else if (has_image_extension(name)) files.push_back(e.path());
  }
  if (ec) throw InputError(dir.string() + ": cannot read folder (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& f : files) out->push_back(f.string());
  for (const fs::path& d : dirs) walk(d, out);
}
}  // namespace

std::vector<DataItem> collect_images(const std::vector<std::string>& paths) {
  std::vector<DataItem> items;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      walk(p, &found);
      if (found.empty()) throw InputError(p + ": no image files (jpg, jpeg, png, bmp, ppm, tif, tiff) in this folder");
      for (const std::string& f : found) items.push_back(DataItem{f, f, -1, 0});
    } else if (fs::exists(p, ec)) {
      items.push_back(DataItem{p, p, -1, 0});
    } else {
      throw InputError(p + ": no such file or folder");
    }
  }
  for (DataItem& it : items) {
    std::error_code ec;
    const auto size = fs::file_size(it.path, ec);
    it.bytes = ec ? 0 : static_cast<uint64_t>(size);
  }
  return items;
}

}  // namespace vggtl
