// Matrix product, row-major: C (m,n) = alpha * op(A) op(B) + beta * C, with op(A) (m,k) stored
// as A (m,k) or, when trans_a, as (k,m); likewise op(B) (k,n) from B (k,n) or (n,k). beta == 0
// never reads C. CPU: oneDNN dnnl_sgemm for float (small products in single-threaded loops),
// plain loops (double sums) for double and as the reference; CUDA: cuBLAS in full fp32, never
// TF32. Tested in tests/kernels/test_gemm.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

struct cublasContext;

namespace vggtl {

// The specification: plain loops, sums in double.
template <typename T>
void gemm_reference_cpu(T* c, const T* a, const T* b, int64_t m, int64_t n, int64_t k, bool trans_a,
                        bool trans_b, T alpha, T beta);

void gemm_cpu(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
              bool trans_a, bool trans_b, float alpha, float beta);
void gemm_cpu(double* c, const double* a, const double* b, int64_t m, int64_t n, int64_t k,
              bool trans_a, bool trans_b, double alpha, double beta);

void gemm_cuda(cublasContext* handle, float* c, const float* a, const float* b, int64_t m,
               int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta);

// Tensor level: each operand is read as a matrix (dim 0, the rest); F32 on any device or F64 on
// the CPU, all on one device. The shapes give m, n and k; c must be (m, n).
void gemm(Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b,
          double alpha = 1.0, double beta = 0.0);

}  // namespace vggtl
