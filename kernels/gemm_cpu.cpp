// GEMM on the CPU: the plain-loop specification, oneDNN's sgemm for float, and the tensor-level
// dispatch (cuBLAS in a CUDA build).
#include <dnnl.h>

#include <algorithm>
#include <vector>

#include "engine/context.h"
#include "kernels/gemm.h"

namespace vggtl {

template <typename T>
void gemm_reference_cpu(T* c, const T* a, const T* b, int64_t m, int64_t n, int64_t k, bool trans_a,
                        bool trans_b, T alpha, T beta) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * m + i] : a[i * k + p];
        const double bv = trans_b ? b[j * k + p] : b[p * n + j];
        acc += av * bv;
      }
      double out = static_cast<double>(alpha) * acc;
      if (beta != T(0)) out += static_cast<double>(beta) * static_cast<double>(c[i * n + j]);
      c[i * n + j] = static_cast<T>(out);
    }
  }
}

template void gemm_reference_cpu<float>(float*, const float*, const float*, int64_t, int64_t,
                                        int64_t, bool, bool, float, float);
template void gemm_reference_cpu<double>(double*, const double*, const double*, int64_t, int64_t,
                                         int64_t, bool, bool, double, double);

namespace {

// Products this small run single-threaded in plain loops: oneDNN opens an OpenMP parallel
// region for some of them (a transposed A, for one), and on a busy machine waiting for the
// second thread costs milliseconds where the arithmetic costs microseconds.
constexpr int64_t kSmallGemmMacs = int64_t{1} << 17;

void gemm_small_cpu(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
                    bool trans_a, bool trans_b, float alpha, float beta) {
  std::vector<float> acc(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    if (trans_b) {  // rows of B are contiguous in p: dot products
      for (int64_t j = 0; j < n; ++j) {
        float s = 0.f;
        for (int64_t p = 0; p < k; ++p) s += (trans_a ? a[p * m + i] : a[i * k + p]) * b[j * k + p];
        acc[j] = s;
      }
    } else {  // rows of B are contiguous in j: accumulate whole rows
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t p = 0; p < k; ++p) {
        const float av = trans_a ? a[p * m + i] : a[i * k + p];
        const float* brow = b + p * n;
        for (int64_t j = 0; j < n; ++j) acc[j] += av * brow[j];
      }
    }
    float* crow = c + i * n;
    for (int64_t j = 0; j < n; ++j)
      crow[j] = beta == 0.f ? alpha * acc[j] : alpha * acc[j] + beta * crow[j];
  }
}

}  // namespace

void gemm_cpu(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
              bool trans_a, bool trans_b, float alpha, float beta) {
  if (m == 0 || n == 0) return;
  if (m * n * k <= kSmallGemmMacs) {  // also k == 0, where oneDNN wants positive strides
    gemm_small_cpu(c, a, b, m, n, k, trans_a, trans_b, alpha, beta);
    return;
  }
  const dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a,
                                      trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
  VGGTL_CHECK(st == dnnl_success, "dnnl_sgemm failed with status ", static_cast<int>(st),
              " for m=", m, " n=", n, " k=", k);
}

void gemm_cpu(double* c, const double* a, const double* b, int64_t m, int64_t n, int64_t k,
              bool trans_a, bool trans_b, double alpha, double beta) {
  gemm_reference_cpu(c, a, b, m, n, k, trans_a, trans_b, alpha, beta);
}

void gemm(Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha,
          double beta) {
  VGGTL_CHECK(a.device() == c.device() && b.device() == c.device(), "gemm: operands on ",
              a.device().str(), ", ", b.device().str(), ", ", c.device().str());
  VGGTL_CHECK(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: dtypes differ: ", a.str(),
              ", ", b.str(), ", ", c.str());
  const int64_t m = trans_a ? a.cols() : a.rows();
  const int64_t k = trans_a ? a.rows() : a.cols();
  const int64_t kb = trans_b ? b.cols() : b.rows();
  const int64_t n = trans_b ? b.rows() : b.cols();
  VGGTL_CHECK(k == kb, "gemm: inner dimensions differ: ", a.str(), trans_a ? "^T" : "", " x ",
              b.str(), trans_b ? "^T" : "");
  VGGTL_CHECK(c.rows() == m && c.cols() == n, "gemm: output ", c.str(), " is not (", m, ", ", n,
              ")");
  if (c.dtype() == DType::F64) {
    VGGTL_CHECK(!c.is_cuda(), "gemm: f64 runs on the CPU only");
    gemm_cpu(c.data<double>(), a.data<double>(), b.data<double>(), m, n, k, trans_a, trans_b, alpha,
             beta);
    return;
  }
  if (c.is_cuda()) {
    gemm_cuda(Context::get(c.device()).cublas(), c.data<float>(), a.data<float>(), b.data<float>(),
              m, n, k, trans_a, trans_b, static_cast<float>(alpha), static_cast<float>(beta));
    return;
  }
  gemm_cpu(c.data<float>(), a.data<float>(), b.data<float>(), m, n, k, trans_a, trans_b,
           static_cast<float>(alpha), static_cast<float>(beta));
}

}  // namespace vggtl
