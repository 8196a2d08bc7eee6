// Messages for failed CUDA, cuBLAS and cuDNN calls.
#include <cstring>
#include <sstream>

#include "engine/cuda_check.h"

namespace vggtl {

void throw_library_error(const char* library, const char* stmt, const char* file, int line,
                         int code, const std::string& message) {
  const char* slash = std::strrchr(file, '/');
  std::ostringstream os;
  os << library << " error " << code << " (" << message << ") in '" << stmt << "' at "
     << (slash ? slash + 1 : file) << ":" << line;
  throw Error(os.str());
}

}  // namespace vggtl
