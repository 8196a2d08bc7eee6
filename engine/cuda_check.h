// CUDA_CHECK, CUBLAS_CHECK, CUDNN_CHECK, KERNEL_CHECK: report the statement, file, line and the
// library's own message, and throw vggtl::Error (CUDA_WARN logs it instead, for destructors).
// Include only from CUDA-enabled sources.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

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

#define CUDA_CHECK(stmt)                                                                   \
  do {                                                                                     \
    cudaError_t vggtl_err_ = (stmt);                                                       \
    if (vggtl_err_ != cudaSuccess)                                                         \
      ::vggtl::throw_library_error("CUDA", #stmt, __FILE__, __LINE__, (int)vggtl_err_,     \
                                   cudaGetErrorString(vggtl_err_));                        \
  } while (0)

// CUDA_CHECK's twin for destructors: a failure is logged, not thrown.
#define CUDA_WARN(stmt)                                                                    \
  do {                                                                                     \
    cudaError_t vggtl_err_ = (stmt);                                                       \
    if (vggtl_err_ != cudaSuccess)                                                         \
      ::vggtl::warn_library_error("CUDA", #stmt, __FILE__, __LINE__, (int)vggtl_err_,      \
                                  cudaGetErrorString(vggtl_err_));                         \
  } while (0)

#define CUBLAS_CHECK(stmt)                                                                 \
  do {                                                                                     \
    cublasStatus_t vggtl_st_ = (stmt);                                                     \
    if (vggtl_st_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::vggtl::throw_library_error("cuBLAS", #stmt, __FILE__, __LINE__, (int)vggtl_st_,    \
                                   cublasGetStatusString(vggtl_st_));              \
  } while (0)

#define CUDNN_CHECK(stmt)                                                                  \
  do {                                                                                     \
    cudnnStatus_t vggtl_st_ = (stmt);                                                      \
    if (vggtl_st_ != CUDNN_STATUS_SUCCESS)                                                 \
      ::vggtl::throw_library_error("cuDNN", #stmt, __FILE__, __LINE__, (int)vggtl_st_,     \
                                   cudnnGetErrorString(vggtl_st_));                        \
  } while (0)

// After every kernel launch: catches bad launch configurations at once (not execution errors,
// which surface at the next synchronising call, also checked).
#define KERNEL_CHECK() CUDA_CHECK(cudaGetLastError())
