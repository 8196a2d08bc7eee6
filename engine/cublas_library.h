// cuBLAS, opened on first use with dlopen instead of linked. A process linked to libcublas maps
// and relocates cuBLASLt as it starts, before main: 0.07-0.15 s of system time and about 200 MB
// resident on every start (measured with a program that does nothing), which every CPU run,
// every --help and every MPI rank paid without one GEMM on a GPU. Only the GPU head's GEMM
// (kernels/gemm_cuda.cpp), its handle (engine/context_cuda.cpp) and --version load it now.
// Include only from CUDA-enabled sources.
#pragma once

#include <cublas_v2.h>

#include <string>

namespace vggtl {

// The functions of cuBLAS this project calls, resolved by their exported names (cublas_v2.h maps
// cublasCreate to cublasCreate_v2 and so on; the pointer types come from the declarations where
// they are not overloaded, so a header that changes a signature fails to compile here).
struct CublasLibrary {
  // cublasGemmEx has a C++ overload (computeType as cudaDataType, inline in the header): the
  // exported one takes a cublasComputeType_t.
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                    const void*, const void*, cudaDataType, int, const void*, cudaDataType, int,
                                    const void*, void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasSetStream_v2) set_stream = nullptr;
  GemmEx gemm_ex = nullptr;
  decltype(&::cublasGetProperty) get_property = nullptr;
  decltype(&::cublasGetStatusString) status_string = nullptr;
  std::string file;  // the name it was opened by: libcublas.so.<major of the headers built with>
};

// The library, opened on the first call (thread-safe) and never closed. A library that cannot be
// opened, or that lacks one of the functions, throws vggtl::Error naming the file and the
// loader's reason, on that call and every later one.
const CublasLibrary& cublas_library();

// cuBLAS's text for a status (opening the library: a status comes from a call through it anyway);
// "cuBLAS status N" where it cannot be opened.
std::string cublas_status_text(cublasStatus_t status);

// "major.minor.patch" of the library, opening it when `open`; "?" when it cannot be opened, "not
// loaded" when it is not open and `open` is false.
std::string cublas_version_text(bool open);

}  // namespace vggtl
