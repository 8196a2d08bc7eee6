// Split listing with std::filesystem. Keras's order (os.walk sorted by directory path, names
// sorted within a directory) is reproduced by collecting (directory, files) groups and sorting
// them; byte-wise std::string order equals Python's code-point order for UTF-8 names.
#include "io/loader/dataset.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "engine/error.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

std::string join_rel(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

struct Walk {
  struct Group {
    std::string dir_rel;  // relative to the split root
    std::vector<std::string> files;
  };
  std::vector<Group> groups;
  std::vector<std::string> hidden_dirs;
  std::vector<std::string> hidden_files;
};

// One directory level: its image files as a group, then its sub-directories.
void walk_dir(const fs::path& root, const std::string& dir_rel, Walk* walk) {
  std::error_code ec;
  fs::directory_iterator it(root / dir_rel, fs::directory_options::none, ec);
  if (ec) throw InputError("cannot read folder '" + (root / dir_rel).string() + "': " + ec.message());
  Walk::Group group{dir_rel, {}};
  std::vector<std::string> subdirs;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw InputError("cannot read folder '" + (root / dir_rel).string() + "': " + ec.message());
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    const bool link = it->is_symlink(ec2);
    const bool dir = it->is_directory(ec2);  // follows links
    if (dir) {
      if (link) continue;  // os.walk(followlinks=False) lists but never enters it
      if (is_hidden(name)) {
        walk->hidden_dirs.push_back(join_rel(dir_rel, name));
        continue;
      }
      subdirs.push_back(name);
    } else if (has_image_extension(name)) {
      if (is_hidden(name)) {
        walk->hidden_files.push_back(join_rel(dir_rel, name));
        continue;
      }
      group.files.push_back(name);
    }
  }
  std::sort(group.files.begin(), group.files.end());
  if (!group.files.empty()) walk->groups.push_back(std::move(group));
  for (const std::string& sub : subdirs) walk_dir(root, join_rel(dir_rel, sub), walk);
}

// Image files below root/dir_rel, as paths relative to root, in Keras's walk order.
std::vector<std::string> walk_images(const fs::path& root, const std::string& dir_rel, Walk* walk) {
  walk_dir(root, dir_rel, walk);
  std::sort(walk->groups.begin(), walk->groups.end(),
            [](const Walk::Group& a, const Walk::Group& b) { return a.dir_rel < b.dir_rel; });
  std::vector<std::string> out;
  for (const Walk::Group& g : walk->groups)
    for (const std::string& file : g.files) out.push_back(join_rel(g.dir_rel, file));
  return out;
}

std::string class_list(const std::vector<std::string>& classes) {
  std::string s;
  for (size_t i = 0; i < classes.size(); ++i) s += (i ? ", " : "") + classes[i];
  return s;
}

}  // namespace

bool has_image_extension(const std::string& filename) {
  const size_t dot = filename.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = filename.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  static const char* const kExtensions[] = {"png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"};
  for (const char* e : kExtensions)
    if (ext == e) return true;
  return false;
}

std::vector<int64_t> SplitListing::class_counts() const {
  std::vector<int64_t> counts(classes.size(), 0);
  for (const DataItem& item : items)
    if (item.label >= 0 && static_cast<size_t>(item.label) < counts.size()) ++counts[item.label];
  return counts;
}

SplitListing list_split(const std::string& root, const std::vector<std::string>* classes) {
  std::error_code ec;
  const fs::path root_path(root);
  if (!fs::exists(root_path, ec)) throw InputError("data folder '" + root + "' does not exist");
  if (!fs::is_directory(root_path, ec)) throw InputError("'" + root + "' is not a folder");

  SplitListing listing;
  listing.root = root;
  std::vector<std::string> folders;
  {
    fs::directory_iterator it(root_path, ec);
    if (ec) throw InputError("cannot read folder '" + root + "': " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) throw InputError("cannot read folder '" + root + "': " + ec.message());
      std::error_code ec2;
      if (!it->is_directory(ec2)) continue;  // top-level files (.DS_Store, README) are not classes
      const std::string name = it->path().filename().string();
      if (is_hidden(name)) {
        listing.warnings.push_back("skipped hidden folder '" + (root_path / name).string() + "'");
        continue;
      }
      folders.push_back(name);
    }
  }
  std::sort(folders.begin(), folders.end());

  if (classes == nullptr) {
    if (folders.empty())
      throw InputError("'" + root + "' has no class sub-folders (expected one folder of images per class)");
    listing.classes = folders;
  } else {
    listing.classes = *classes;
    for (const std::string& name : folders)
      if (std::find(classes->begin(), classes->end(), name) == classes->end())
        throw InputError("'" + (root_path / name).string() + "': class '" + name +
                         "' is not one of the training classes (" + class_list(*classes) + ")");
  }

  for (size_t label = 0; label < listing.classes.size(); ++label) {
    const std::string& name = listing.classes[label];
    if (!std::binary_search(folders.begin(), folders.end(), name)) continue;
    Walk walk;
    size_t found = 0;
    for (const std::string& relpath : walk_images(root_path, name, &walk)) {
      DataItem item;
      item.relpath = relpath;
      item.path = (root_path / item.relpath).string();
      item.label = static_cast<int32_t>(label);
      std::error_code ec3;
      const auto size = fs::file_size(item.path, ec3);
      item.bytes = ec3 ? 0 : static_cast<uint64_t>(size);
      listing.items.push_back(std::move(item));
      ++found;
    }
    for (const std::string& d : walk.hidden_dirs)
      listing.warnings.push_back("skipped hidden folder '" + (root_path / d).string() + "'");
    if (!walk.hidden_files.empty())
      listing.warnings.push_back("skipped " + std::to_string(walk.hidden_files.size()) +
                                 " hidden file(s) in class '" + name + "', such as '" +
                                 (root_path / walk.hidden_files.front()).string() + "'");
    if (found == 0 && classes == nullptr)
      listing.warnings.push_back("class '" + name + "' has no images in '" + root + "'");
  }
  if (listing.items.empty())
    throw InputError("'" + root + "' contains no images (jpg, jpeg, png, bmp, ppm, tif, tiff)");
  return listing;
}

std::vector<std::string> list_image_files(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw InputError("'" + folder + "' is not a folder");
  Walk walk;
  return walk_images(fs::path(folder), "", &walk);
}

}  // namespace vggtl
