// Listing an image split the way Keras flow_from_directory does, made stricter: classes are the
// sorted sub-folders of the training split, other splits are mapped to them by name, files are
// found recursively in Keras's order. Tests: tests/io/test_dataset.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vggtl {

struct DataItem {
  std::string path;     // as opened: root joined with relpath
  std::string relpath;  // relative to the split root, '/'-separated: "cat/sub/cat.1.jpg"
  int32_t label = -1;   // index into the training classes
  uint64_t bytes = 0;   // file size, for fingerprinting (relpath, bytes, label)
};

struct SplitListing {
  std::string root;
  std::vector<std::string> classes;   // the training classes; label = index
  std::vector<DataItem> items;        // by label, then Keras's walk order within the class
  std::vector<std::string> warnings;  // one line each: hidden entries skipped, empty classes

  std::vector<int64_t> class_counts() const;  // items per class
};

// Extensions Keras accepts (png, jpg, jpeg, bmp, ppm, tif, tiff), any case, after a dot.
bool has_image_extension(const std::string& filename);

// Lists one split. classes == nullptr: this is the training split and its sorted sub-folder
// names become the classes. Otherwise each sub-folder must be one of *classes (matched by
// name; a class may be absent). Rules:
//  - sub-folders and files whose name starts with '.' are skipped, with a warning line;
//  - files are collected recursively: directories in byte-wise order of their path, files in
//    byte-wise order within each directory (Keras's os.walk + sorted); symbolic links to
//    folders below a class folder are not followed;
//  - files without an image extension are ignored silently (.DS_Store, notes.txt);
//  - a missing or unreadable root, a training split without class folders, a class unknown to
//    training, or a split without a single image is an InputError (one line, naming the path).
SplitListing list_split(const std::string& root, const std::vector<std::string>* classes = nullptr);

// The image files below one folder (no classes), by the same rules: paths relative to it, in
// Keras's walk order, hidden entries and linked folders skipped. For vggtl_predict.
std::vector<std::string> list_image_files(const std::string& folder);

}  // namespace vggtl
