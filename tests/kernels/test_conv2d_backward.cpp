// 3x3 'same' convolution backward: a hand-computed case for the double oracle; the oracle
// against central differences of the forward oracle in double at awkward sizes (odd H and W,
// C = 3, K = 5, N = 1..3); oneDNN's backward-data and backward-weights against the oracle (within
// 1e-5 of the RMS of the expected values: f32 products summed in f32 over at most a few hundred
// terms stay near 1e-7 relative), with weights changed between calls; oneDNN's bf16 backward
// (mixed precision, where the CPU has bf16) against the oracle on the same bf16-rounded operands
// and on the unrounded ones; cuDNN against the oracle and bit-identical run to run (Gpu suite).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/bias.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"
#include "support/random_cases.h"
#include "test_util.h"

namespace vggtl {
namespace {

using BackwardCase = test::ConvBackwardCase;
BackwardCase random_backward_case(const Conv2dShape& s, uint64_t seed) {
  return test::random_conv_backward_case(s, seed);
}

std::vector<double> doubles(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

struct Grads {
  std::vector<double> dx, dw, db;
};

Grads oracle(const BackwardCase& c) {
  const Conv2dShape& s = c.s;
  Grads g{std::vector<double>(c.x.size()), std::vector<double>(c.w.size()), std::vector<double>(s.k)};
  const std::vector<double> x = doubles(c.x), w = doubles(c.w), dy = doubles(c.dy);
  conv2d_3x3_backward_ref_cpu(g.dx.data(), g.dw.data(), g.db.data(), dy.data(), x.data(), w.data(), s);
  return g;
}

TEST(Conv2dBackward, HandComputedAllOnes) {
  // x = 1..9 in a 3x3 image, one channel, all-ones kernel, dy = 1 everywhere. dx counts the
  // outputs whose window covers each pixel (4 at corners, 6 on edges, 9 in the middle); dw[r][s]
  // sums the image shifted by the tap (dw[0][0] = 1+2+4+5, dw[1][1] = 45, dw[2][2] = 5+6+8+9);
  // db = 9 outputs.
  const Conv2dShape s{1, 3, 3, 1, 1};
  const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.0), dy(9, 1.0);
  std::vector<double> dx(9), dw(9), db(1);
  conv2d_3x3_backward_ref_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), s);
  const double want_dx[9] = {4, 6, 4, 6, 9, 6, 4, 6, 4};
  const double want_dw[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(dx[i], want_dx[i]) << i;
    EXPECT_EQ(dw[i], want_dw[i]) << i;
  }
  EXPECT_EQ(db[0], 9.0);
}

// L = sum dy * conv(x, w, b) (no ReLU: the layer applies its mask before the convolution's
// backward). L is linear in each of x, w and b, so central differences are exact up to rounding.
TEST(Conv2dBackward, OracleMatchesCentralDifferences) {
  const Conv2dShape shapes[] = {{1, 5, 7, 3, 5}, {2, 5, 7, 3, 5}, {3, 1, 1, 2, 3}, {1, 4, 3, 5, 2}};
  uint64_t seed = 100;
  for (const Conv2dShape& s : shapes) {
    const BackwardCase c = random_backward_case(s, seed += 3);
    std::vector<double> x = doubles(c.x), w = doubles(c.w), b = test::random_doubles(s.k, seed + 9);
    const std::vector<double> dy = doubles(c.dy);
    std::vector<double> y(dy.size());
    auto loss = [&] {
      conv2d_3x3_ref_cpu(y.data(), x.data(), w.data(), b.data(), s, false);
      double sum = 0;
      for (size_t i = 0; i < y.size(); ++i) sum += dy[i] * y[i];
      return sum;
    };
    Grads g{std::vector<double>(x.size()), std::vector<double>(w.size()), std::vector<double>(s.k)};
    conv2d_3x3_backward_ref_cpu(g.dx.data(), g.dw.data(), g.db.data(), dy.data(), x.data(), w.data(), s);
    auto check = [&](std::vector<double>& v, const std::vector<double>& analytic, const char* what) {
      // The loss is linear in every value: a step of 1e-3 is exact up to rounding.
      const std::vector<double> numeric =
          test::numeric_gradient(v.data(), static_cast<int64_t>(v.size()), loss, 1e-3);
      EXPECT_LT(test::relative_error(numeric, analytic), 1e-8)
          << what << " " << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k;
    };
    check(x, g.dx, "dx");
    check(w, g.dw, "dw");
    check(b, g.db, "db");
  }
}

// db is bias.h's column sum over the N*H*W pixels of dy.
TEST(Conv2dBackward, BiasGradientIsBiasGradOverPixels) {
  const BackwardCase c = random_backward_case({3, 5, 7, 3, 5}, 7);
  const Grads g = oracle(c);
  const int64_t rows = c.s.n * c.s.h * c.s.w;
  Tensor dy = Tensor::empty({rows, c.s.k}, DType::F32), db = Tensor::empty({c.s.k}, DType::F32);
  std::memcpy(dy.raw(), c.dy.data(), dy.nbytes());
  bias_grad(db, dy);
  EXPECT_TRUE(test::within_rms(test::compare(db.data<float>(), g.db.data(), c.s.k), c.s.k, 1e-6));
}

TEST(Conv2dBackward, OnednnMatchesOracleAtAwkwardSizes) {
  const Conv2dShape shapes[] = {{1, 5, 7, 3, 5}, {2, 5, 7, 3, 5}, {3, 5, 7, 3, 5}, {1, 1, 1, 2, 3},
                                {2, 9, 6, 16, 8}, {2, 14, 14, 64, 32}};
  uint64_t seed = 200;
  for (const Conv2dShape& s : shapes) {
    Conv2dOnednnBackward conv(s.c, s.k);
    for (int change = 0; change < 2; ++change) {  // the second round: new weights, same object
      const BackwardCase c = random_backward_case(s, seed += 3);
      const Grads want = oracle(c);
      std::vector<float> dx(c.x.size(), std::nanf("")), dw(c.w.size(), std::nanf(""));
      conv.backward_data(dx.data(), c.dy.data(), s.n, s.h, s.w, c.w.data());
      conv.backward_weights(dw.data(), c.x.data(), c.dy.data(), s.n, s.h, s.w);
      const int64_t nx = static_cast<int64_t>(dx.size()), nw = static_cast<int64_t>(dw.size());
      EXPECT_TRUE(test::within_rms(test::compare(dx.data(), want.dx.data(), nx), nx, 1e-5))
          << "dx " << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k << " " << conv.implementation();
      EXPECT_TRUE(test::within_rms(test::compare(dw.data(), want.dw.data(), nw), nw, 1e-5))
          << "dw " << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k << " " << conv.implementation();
    }
  }
}

std::vector<bf16> bf16_copy(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

BackwardCase bf16_rounded(BackwardCase c) {
  for (std::vector<float>* v : {&c.x, &c.w, &c.dy})
    for (float& e : *v) e = bf16_to_float(float_to_bf16(e));
  return c;
}

// bf16 x, dy and dx, f32 master weights (rounded to bf16 by the primitive's reorder), f32 dw.
// Against the oracle on the same bf16-rounded operands, what is left: dx's own rounding to bf16
// (2^-9 of each value, allowed 2^-8) and f32 accumulation (allowed 1e-5 of the largest value); dw
// the f32 accumulation of exact bf16 products only (1e-5 of the largest). Against the oracle on the
// unrounded operands, the measure: max abs error over max abs value <= 1e-2.
TEST(Conv2dBackward, OnednnBf16MatchesOracleAtAwkwardSizes) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason();
  const Conv2dShape shapes[] = {{1, 5, 7, 3, 5}, {3, 5, 7, 3, 5}, {1, 1, 1, 2, 3}, {2, 9, 6, 16, 8},
                                {2, 14, 14, 64, 32}, {2, 7, 7, 512, 48}};
  uint64_t seed = 500;
  for (const Conv2dShape& s : shapes) {
    Conv2dOnednnBackward conv(s.c, s.k, DType::BF16);
    for (int change = 0; change < 2; ++change) {  // the second round: new weights, same object
      const BackwardCase c = random_backward_case(s, seed += 3);
      const Grads exact = oracle(c), want = oracle(bf16_rounded(c));
      const std::vector<bf16> x = bf16_copy(c.x), dy = bf16_copy(c.dy);
      std::vector<bf16> dx16(c.x.size(), float_to_bf16(std::nanf("")));
      std::vector<float> dw(c.w.size(), std::nanf(""));
      conv.backward_data(dx16.data(), dy.data(), s.n, s.h, s.w, c.w.data());
      conv.backward_weights(dw.data(), x.data(), dy.data(), s.n, s.h, s.w);
      std::vector<float> dx(dx16.size());
      for (size_t i = 0; i < dx.size(); ++i) dx[i] = bf16_to_float(dx16[i]);
      const std::string what = std::to_string(s.n) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w) + "x" +
                               std::to_string(s.c) + "->" + std::to_string(s.k) + " " + conv.implementation();
      auto check = [&](const std::vector<float>& got, const std::vector<double>& rounded_want,
                       const std::vector<double>& exact_want, double own_rounding, const char* name) {
        const double top = test::max_abs(rounded_want), exact_top = test::max_abs(exact_want);
        double excess = 0, err = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_TRUE(std::isfinite(got[i])) << name << " " << i << " not written: " << what;
          const double d = std::abs(got[i] - rounded_want[i]);
          excess = test::worst_error(excess, d - (own_rounding * std::abs(rounded_want[i]) + 1e-5 * top));
          err = test::worst_error(err, std::abs(got[i] - exact_want[i]));
        }
        EXPECT_LE(excess, 0.0) << name << " against the rounded oracle: " << what;
        EXPECT_LE(err, 1e-2 * exact_top) << name << ": max error " << err << " of " << exact_top << ", " << what;
      };
      check(dx, want.dx, exact.dx, std::ldexp(1.0, -8), "dx");
      check(dw, want.dw, exact.dw, 0.0, "dw");
    }
  }
}

// The bf16 and f32 objects are not interchangeable: each refuses the other's data.
TEST(Conv2dBackward, OnednnBf16RefusesF32Data) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason();
  Conv2dOnednnBackward conv16(2, 3, DType::BF16), conv32(2, 3);
  std::vector<float> f(27, 0.f);
  std::vector<bf16> b(27, bf16{0});
  EXPECT_NE(test::error_of([&] { conv16.backward_data(f.data(), f.data(), 1, 3, 3, f.data()); }), "(no error)");
  EXPECT_NE(test::error_of([&] { conv32.backward_data(b.data(), b.data(), 1, 3, 3, f.data()); }), "(no error)");
}

#if VGGTL_HAVE_CUDA
struct GpuGrads {
  std::vector<float> dx, dw;  // dw in the Keras layout
};

GpuGrads cudnn_backward(const BackwardCase& c) {
  const Device dev = Device::cuda();
  Context& ctx = Context::get(dev);
  const Conv2dShape& s = c.s;
  Tensor hx = Tensor::empty({s.n, s.h, s.w, s.c}, DType::F32), hw = Tensor::empty({3, 3, s.c, s.k}, DType::F32);
  Tensor hdy = Tensor::empty({s.n, s.h, s.w, s.k}, DType::F32);
  std::memcpy(hx.raw(), c.x.data(), hx.nbytes());
  std::memcpy(hw.raw(), c.w.data(), hw.nbytes());
  std::memcpy(hdy.raw(), c.dy.data(), hdy.nbytes());
  Tensor x = to_device(hx, dev), w = to_device(hw, dev), dy = to_device(hdy, dev);
  Tensor w_krsc = Tensor::empty({s.k, 3, 3, s.c}, DType::F32, dev);
  hwio_to_krsc(w_krsc, w);
  Tensor dx = test::poisoned(x.shape(), DType::F32, dev), dw_krsc = test::poisoned(w_krsc.shape(), DType::F32, dev);
  const size_t bytes = conv2d_backward_cudnn_workspace_bytes(s, dev, ctx.cudnn());
  conv2d_backward_cudnn(dx.data<float>(), dw_krsc.data<float>(), dy.data<float>(), x.data<float>(),
                        w_krsc.data<float>(), s, ctx.workspace(bytes), bytes, dev, ctx.cudnn());
  Tensor dw = Tensor::empty(w.shape(), DType::F32, dev);
  krsc_to_hwio(dw, dw_krsc);
  Tensor gx = test::host_copy(dx), gw = test::host_copy(dw);
  GpuGrads g;
  g.dx.assign(gx.data<float>(), gx.data<float>() + gx.numel());
  g.dw.assign(gw.data<float>(), gw.data<float>() + gw.numel());
  return g;
}
#endif

TEST(Conv2dBackwardGpu, CudnnMatchesOracleInFp32) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  // fp32 with FMA math only and GEMM-like algorithms: as exact as the CPU, 1e-5 of RMS.
  const Conv2dShape shapes[] = {{1, 5, 7, 3, 5}, {3, 5, 7, 3, 5}, {2, 9, 6, 16, 8}, {2, 14, 14, 512, 512}};
  uint64_t seed = 300;
  for (const Conv2dShape& s : shapes) {
    const BackwardCase c = random_backward_case(s, seed += 3);
    const Grads want = oracle(c);
    const GpuGrads got = cudnn_backward(c);
    const int64_t nx = static_cast<int64_t>(got.dx.size()), nw = static_cast<int64_t>(got.dw.size());
    EXPECT_TRUE(test::within_rms(test::compare(got.dx.data(), want.dx.data(), nx), nx, 1e-5))
        << "dx " << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k;
    EXPECT_TRUE(test::within_rms(test::compare(got.dw.data(), want.dw.data(), nw), nw, 1e-5))
        << "dw " << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k;
  }
#endif
}

TEST(Conv2dBackwardGpu, BitIdenticalRunToRun) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  // Deterministic algorithms only: a resumed run must compute the gradients the first one did.
  const BackwardCase c = random_backward_case({30, 14, 14, 512, 512}, 400);
  const GpuGrads a = cudnn_backward(c), b = cudnn_backward(c);
  EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.dw.data(), b.dw.data(), a.dw.size() * sizeof(float)), 0);
#endif
}

}  // namespace
}  // namespace vggtl
