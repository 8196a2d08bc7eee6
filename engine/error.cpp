// Formats failed checks: "<message> (check 'cond' failed at file:line)".
#include "engine/error.h"

#include <cstring>

namespace vggtl {

namespace {
const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}
}  // namespace

void throw_check_failure(const char* cond, const char* file, int line, const std::string& msg) {
  std::ostringstream os;
  os << (msg.empty() ? "internal error" : msg);
  if (cond)
    os << " (check '" << cond << "' failed at " << base_name(file) << ":" << line << ")";
  else
    os << " (at " << base_name(file) << ":" << line << ")";
  throw Error(os.str());
}

}  // namespace vggtl
