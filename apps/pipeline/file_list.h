// Image files named on a command line: files as given, folders searched recursively (sorted,
// Keras's extensions, hidden entries skipped), for vggtl_predict.
#pragma once

#include <string>
#include <vector>

#include "io/loader/dataset.h"

namespace vggtl {

// InputError for a path that does not exist or a folder without images.
std::vector<DataItem> collect_images(const std::vector<std::string>& paths);

}  // namespace vggtl
