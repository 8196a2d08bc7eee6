// Messages for failed CUDA, cuBLAS and cuDNN calls.
#include <cstring>
#include <sstream>

#include "engine/cuda_check.h"
#include "engine/log.h"

namespace vggtl {

namespace {
std::string library_error_message(const char* library, const char* stmt, const char* file, int line,
                                  int code, const std::string& message) {
  const char* slash = std::strrchr(file, '/');
  std::ostringstream os;
  os << library << " error " << code << " (" << message << ") in '" << stmt << "' at "
     << (slash ? slash + 1 : file) << ":" << line;
  return os.str();
}
}  // namespace

void throw_library_error(const char* library, const char* stmt, const char* file, int line,
                         int code, const std::string& message) {
  throw Error(library_error_message(library, stmt, file, line, code, message));
}

void warn_library_error(const char* library, const char* stmt, const char* file, int line,
                        int code, const std::string& message) {
  log_warning(library_error_message(library, stmt, file, line, code, message));
}

}  // namespace vggtl
