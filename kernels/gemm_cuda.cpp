// GEMM through cuBLAS (host code; the project's only cuBLAS call, through engine/cublas_library.h). cuBLAS is column-major: a
// row-major C (m,n) is a column-major C^T (n,m), so C^T = op(B)^T op(A)^T is computed with the
// operands swapped. The compute type is CUBLAS_COMPUTE_32F_PEDANTIC so that the head stays fp32
// whatever math mode the shared handle or NVIDIA_TF32_OVERRIDE asks for.
#include <climits>

#include "engine/cuda_check.h"
#include "kernels/gemm.h"

namespace vggtl {

void gemm_cuda(cublasContext* handle, float* c, const float* a, const float* b, int64_t m,
               int64_t n, int64_t k, bool trans_a, bool trans_b, float alpha, float beta) {
  if (m == 0 || n == 0) return;
  VGGTL_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, "gemm_cuda: dimensions ", m, "x", n,
              "x", k, " exceed cuBLAS's int range");
  const int lda = static_cast<int>(trans_a ? m : k);
  const int ldb = static_cast<int>(trans_b ? k : n);
  CUBLAS_CHECK(cublas_library().gemm_ex(
      handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b, CUDA_R_32F,
      ldb > 0 ? ldb : 1, a, CUDA_R_32F, lda > 0 ? lda : 1, &beta, c, CUDA_R_32F,
      static_cast<int>(n), CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

}  // namespace vggtl
