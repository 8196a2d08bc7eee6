// Library versions as the linked libraries report them at run time where they can.
#include "io/versions.h"

#include <hdf5.h>
#include <jpeglib.h>
#include <onnx/common/version.h>
#include <png.h>

#include <google/protobuf/stubs/common.h>

#include <sstream>

namespace vggtl {

std::string io_library_versions() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  std::ostringstream os;
  os << "HDF5 " << maj << "." << min << "." << rel << "; libjpeg API " << JPEG_LIB_VERSION
     << "; libpng " << png_get_libpng_ver(nullptr) << "; ONNX " << ONNX_NAMESPACE::LAST_RELEASE_VERSION
     << " (protobuf " << google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION) << ")";
  return os.str();
}

}  // namespace vggtl
