// GEMM: a hand-computed product, oneDNN's sgemm against the plain-loop reference for every
// transpose combination at awkward sizes, beta handling, tensor-level shape checks, and cuBLAS
// against the CPU (GPU suite).
#include <cmath>
#include <vector>

#include "engine/context.h"
#include "kernels/gemm.h"
#include "test_util.h"

namespace vggtl {
namespace {

struct Case {
  int64_t m, n, k;
};
const Case kCases[] = {{1, 1, 1}, {7, 5, 33}, {30, 64, 97}, {3, 2, 64}, {64, 3, 30}, {1, 13, 5}};

// Stored operand of op(X) (rows x cols): X itself or its transpose.
std::vector<float> operand(int64_t rows, int64_t cols, uint64_t seed) {
  return test::random_floats(static_cast<size_t>(rows * cols), seed);
}

TEST(GemmCpu, HandComputed) {
  // [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [58 64; 139 154]
  const double a[] = {1, 2, 3, 4, 5, 6};
  const double b[] = {7, 8, 9, 10, 11, 12};
  double c[4];
  gemm_cpu(c, a, b, 2, 2, 3, false, false, 1.0, 0.0);
  EXPECT_EQ(c[0], 58);
  EXPECT_EQ(c[1], 64);
  EXPECT_EQ(c[2], 139);
  EXPECT_EQ(c[3], 154);
  // A^T stored as (3, 2): the same product read through trans_a.
  const double at[] = {1, 4, 2, 5, 3, 6};
  const double bt[] = {7, 9, 11, 8, 10, 12};
  double c2[4];
  gemm_cpu(c2, at, bt, 2, 2, 3, true, true, 1.0, 0.0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c2[i], c[i]);
}

TEST(GemmCpu, SgemmMatchesReferenceForAllTransposes) {
  for (const Case& cs : kCases) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const std::vector<float> a = operand(cs.m, cs.k, 11 + t);
      const std::vector<float> b = operand(cs.k, cs.n, 23 + t);
      std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
      std::vector<float> c(static_cast<size_t>(cs.m * cs.n), std::nanf(""));
      std::vector<double> ref(c.size());
      gemm_cpu(c.data(), a.data(), b.data(), cs.m, cs.n, cs.k, ta, tb, 1.f, 0.f);
      gemm_reference_cpu(ref.data(), ad.data(), bd.data(), cs.m, cs.n, cs.k, ta, tb, 1.0, 0.0);
      // f32 products of k terms in [-1, 1]: error grows like sqrt(k) * 2^-24 * |terms|.
      EXPECT_TRUE(
          test::within(test::compare(c.data(), ref.data(), cs.m * cs.n), 1e-5 * std::sqrt(cs.k)))
          << cs.m << "x" << cs.n << "x" << cs.k << " trans " << ta << tb;
    }
  }
}

TEST(GemmCpu, AlphaAndBeta) {
  const int64_t m = 5, n = 4, k = 3;
  const std::vector<float> a = operand(m, k, 1), b = operand(k, n, 2), c0 = operand(m, n, 3);
  std::vector<float> c = c0;
  gemm_cpu(c.data(), a.data(), b.data(), m, n, k, false, false, 2.f, 0.5f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += double(a[i * k + p]) * b[p * n + j];
      EXPECT_NEAR(c[i * n + j], 2 * acc + 0.5 * c0[i * n + j], 1e-5);
    }
  }
}

TEST(GemmCpu, BetaZeroIgnoresGarbageInOutput) {
  const int64_t m = 3, n = 3, k = 2;
  const std::vector<float> a = operand(m, k, 4), b = operand(k, n, 5);
  std::vector<float> c(m * n, std::nanf(""));
  gemm_cpu(c.data(), a.data(), b.data(), m, n, k, false, false, 1.f, 0.f);
  for (float v : c) EXPECT_FALSE(std::isnan(v));
}

TEST(GemmCpu, TensorLevelReadsShapesAndRejectsMismatch) {
  Tensor a = Tensor::empty({4, 3}, DType::F64), b = Tensor::empty({3, 2}, DType::F64);
  Tensor c = Tensor::empty({4, 2}, DType::F64);
  for (int i = 0; i < 12; ++i) a.data<double>()[i] = i;
  for (int i = 0; i < 6; ++i) b.data<double>()[i] = 1;
  gemm(c, a, b, false, false);
  EXPECT_EQ(c.data<double>()[0], 0 + 1 + 2);
  EXPECT_EQ(c.data<double>()[7], 9 + 10 + 11);
  Tensor bad = Tensor::empty({3, 3}, DType::F64);
  EXPECT_THROW(gemm(bad, a, b, false, false), Error);
  EXPECT_THROW(gemm(c, a, b, true, false), Error);
  Tensor cf = Tensor::empty({4, 2}, DType::F32);
  EXPECT_THROW(gemm(cf, a, b, false, false), Error);
}

TEST(GemmGpu, CublasMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (const Case& cs : kCases) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const std::vector<float> a = operand(cs.m, cs.k, 31 + t), b = operand(cs.k, cs.n, 37 + t);
      Tensor ha = Tensor::empty({ta ? cs.k : cs.m, ta ? cs.m : cs.k}, DType::F32);
      Tensor hb = Tensor::empty({tb ? cs.n : cs.k, tb ? cs.k : cs.n}, DType::F32);
      std::copy(a.begin(), a.end(), ha.data<float>());
      std::copy(b.begin(), b.end(), hb.data<float>());
      Tensor hc = Tensor::empty({cs.m, cs.n}, DType::F32);
      gemm(hc, ha, hb, ta, tb);
      Tensor da = to_device(ha, Device::cuda()), db = to_device(hb, Device::cuda());
      Tensor dc = test::poisoned({cs.m, cs.n}, DType::F32, Device::cuda());
      gemm(dc, da, db, ta, tb);
      Tensor back = test::host_copy(dc);
      // Both fp32 with different summation orders: sqrt(k) * 2^-24 scale, doubled.
      EXPECT_TRUE(test::within(test::compare(back.data<float>(), hc.data<float>(), cs.m * cs.n),
                               2e-5 * std::sqrt(cs.k)))
          << cs.m << "x" << cs.n << "x" << cs.k << " trans " << ta << tb;
    }
  }
}

}  // namespace
}  // namespace vggtl
