// oneDNN version and the OpenMP thread count it will use.
#include "kernels/cpu_backend.h"

#include <dnnl.h>

#include <cstdlib>
#include <sstream>
#include <thread>

namespace vggtl {

int cpu_threads() {
  // oneDNN's OpenMP runtime follows OMP_NUM_THREADS (its first number), else every core.
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

std::string cpu_backend_version() {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << "oneDNN " << v->major << "." << v->minor << "." << v->patch << " (" << cpu_threads()
     << " threads)";
  return os.str();
}

}  // namespace vggtl
