// Files as given; folders through io's listing rules (the order never depends on the file
// system).
#include "apps/pipeline/file_list.h"

#include <filesystem>

#include "engine/error.h"

namespace vggtl {

namespace fs = std::filesystem;

std::vector<DataItem> collect_images(const std::vector<std::string>& paths) {
  std::vector<DataItem> items;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      const std::vector<std::string> found = list_image_files(p);
      if (found.empty()) throw InputError(p + ": no image files (jpg, jpeg, png, bmp, ppm, tif, tiff) in this folder");
      for (const std::string& rel : found) {
        const std::string path = (fs::path(p) / rel).string();
        items.push_back(DataItem{path, path, -1, 0});
      }
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
