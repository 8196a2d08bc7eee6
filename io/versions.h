// Versions of the file-format libraries io links, for --version and metrics.json.
#pragma once

#include <string>

namespace vggtl {

std::string io_library_versions();  // "HDF5 1.10.8; libjpeg API 62; libpng 1.6.39; ONNX 1.12.0 (protobuf 3.21.12)"

}  // namespace vggtl
