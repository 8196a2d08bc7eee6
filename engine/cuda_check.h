// CUDA_CHECK, CUBLAS_CHECK, CUDNN_CHECK, KERNEL_CHECK: report the statement, file, line and the
// library's own message, and throw vggtl::Error (CUDA_WARN logs it instead, for destructors).
// Include only from CUDA-enabled sources.
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "engine/cublas_library.h"
#include "engine/error.h"

namespace vggtl {

// For destructors and other places that must not throw: logs the failure as a warning.
void warn_library_error(const char* library, const char* stmt, const char* file, int line,
                        int code, const std::string& message);

[[noreturn]] void throw_library_error(const char* library, const char* stmt, const char* file,
                                      int line, int code, const std::string& message);

template <typename T>
constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

}  // namespace vggtl

// One status check: evaluates `stmt` once; unless it gave `ok`, passes the library, the statement
// text, the place, the code and the library's message to `report`.
#define VGGTL_LIBRARY_STATUS(type, ok, library, report, text, stmt)                           \
  do {                                                                                          \
    const type vggtl_st_ = (stmt);                                                              \
    if (vggtl_st_ != (ok))                                                                      \
      report(library, #stmt, __FILE__, __LINE__, static_cast<int>(vggtl_st_), text(vggtl_st_)); \
  } while (0)

#define CUDA_CHECK(stmt) \
  VGGTL_LIBRARY_STATUS(cudaError_t, cudaSuccess, "CUDA", ::vggtl::throw_library_error, cudaGetErrorString, stmt)
// CUDA_CHECK's twin for destructors: a failure is logged, not thrown.
#define CUDA_WARN(stmt) \
  VGGTL_LIBRARY_STATUS(cudaError_t, cudaSuccess, "CUDA", ::vggtl::warn_library_error, cudaGetErrorString, stmt)
#define CUBLAS_CHECK(stmt) \
  VGGTL_LIBRARY_STATUS(cublasStatus_t, CUBLAS_STATUS_SUCCESS, "cuBLAS", ::vggtl::throw_library_error, \
                       ::vggtl::cublas_status_text, stmt)
#define CUDNN_CHECK(stmt) \
  VGGTL_LIBRARY_STATUS(cudnnStatus_t, CUDNN_STATUS_SUCCESS, "cuDNN", ::vggtl::throw_library_error, \
                       cudnnGetErrorString, stmt)

// After every kernel launch: catches bad launch configurations at once (not execution errors,
// which surface at the next synchronising call, also checked).
#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())
