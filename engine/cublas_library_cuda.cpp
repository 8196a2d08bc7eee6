// cuBLAS opened with dlopen: see cublas_library.h for why.
#include "engine/cublas_library.h"

#include <dlfcn.h>

#include <atomic>

#include "engine/error.h"

namespace vggtl {

namespace {

#define VGGTL_STRINGIFY_(x) #x
#define VGGTL_STRINGIFY(x) VGGTL_STRINGIFY_(x)

struct Opened {
  CublasLibrary lib;
  std::string error;  // why it could not be opened; empty when it was
};

// The soname (found through the executable's run path, LD_LIBRARY_PATH and the loader's cache),
// then the toolkit's library folder the build found it in, for a caller without that run path
// (a Python extension module).
void* open_library(const std::string& file, std::string* why) {
  if (void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  *why = dlerror();
#ifdef VGGTL_CUDA_LIBRARY_DIR
  const std::string in_toolkit = std::string(VGGTL_CUDA_LIBRARY_DIR) + "/" + file;
  if (void* h = dlopen(in_toolkit.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
#endif
  return nullptr;
}

template <typename F>
bool resolve(void* handle, const char* name, F* out, std::string* error) {
  dlerror();
  *out = reinterpret_cast<F>(dlsym(handle, name));
  if (*out) return true;
  const char* why = dlerror();
  *error = std::string("no function ") + name + (why ? std::string(" (") + why + ")" : std::string());
  return false;
}

// The exported cublasGemmEx has GemmEx's signature (no overload matches otherwise).
static_assert(sizeof(static_cast<CublasLibrary::GemmEx>(&::cublasGemmEx)) > 0);

Opened open_cublas() {
  Opened o;
  o.lib.file = "libcublas.so." VGGTL_STRINGIFY(CUBLAS_VER_MAJOR);
  std::string why;
  void* h = open_library(o.lib.file, &why);
  if (!h) {
    o.error = "cannot load cuBLAS (" + o.lib.file + "): " + why;
    return o;
  }
  std::string missing;
  const bool all = resolve(h, "cublasCreate_v2", &o.lib.create, &missing) &&
                   resolve(h, "cublasSetStream_v2", &o.lib.set_stream, &missing) &&
                   resolve(h, "cublasGemmEx", &o.lib.gemm_ex, &missing) &&
                   resolve(h, "cublasGetProperty", &o.lib.get_property, &missing) &&
                   resolve(h, "cublasGetStatusString", &o.lib.status_string, &missing);
  if (!all) o.error = "cuBLAS (" + o.lib.file + ") has " + missing;
  return o;
}

std::atomic<bool> opened_yet{false};

const Opened& opened() {
  static const Opened o = [] {  // once, thread-safe
    Opened first = open_cublas();
    opened_yet.store(true);
    return first;
  }();
  return o;
}

}  // namespace

const CublasLibrary& cublas_library() {
  const Opened& o = opened();
  if (!o.error.empty()) throw Error(o.error);
  return o.lib;
}

std::string cublas_status_text(cublasStatus_t status) {
  const Opened& o = opened();
  if (o.error.empty()) return o.lib.status_string(status);
  return "cuBLAS status " + std::to_string(static_cast<int>(status));
}

std::string cublas_version_text(bool open) {
  if (!open && !opened_yet.load()) return "not loaded";
  const Opened& o = opened();
  int v[3] = {0, 0, 0};
  if (!o.error.empty() || o.lib.get_property(MAJOR_VERSION, &v[0]) != CUBLAS_STATUS_SUCCESS ||
      o.lib.get_property(MINOR_VERSION, &v[1]) != CUBLAS_STATUS_SUCCESS ||
      o.lib.get_property(PATCH_LEVEL, &v[2]) != CUBLAS_STATUS_SUCCESS)
    return "?";
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

}  // namespace vggtl
