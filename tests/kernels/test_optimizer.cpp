// Adam and SGD kernels: the first Adam step in closed form (which also pins epsilon after the
// bias correction), several steps against the formula written out in double, SGD with momentum
// and Nesterov by hand, float against double, the CUDA thread functions swept over their grid
// (bit for bit), and the GPU against the CPU (bit for bit: no FMA contraction on either side).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/optimizer.h"
#include "kernels/optimizer_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(OptimizerCpu, AdamFirstStepClosedForm) {
  // t = 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so
  // w1 = w0 - lr g sqrt(0.001) / (sqrt(0.001) |g| + eps). For |g| = 1e-6 epsilon dominates:
  // the step is 0.24 lr; with epsilon inside the bias correction (the paper's form) it would be
  // 0.91 lr.
  const double lr = 0.01, eps = 1e-7;
  std::vector<double> w = {1.0, -2.0, 0.5, 3.0}, m(4, 0), v(4, 0);
  const std::vector<double> g = {0.3, -1e-6, 1e-6, 0.0}, w0 = w;
  adam_step_cpu(w.data(), m.data(), v.data(), g.data(), 4,
                adam_coeffs<double>(lr, 0.9, 0.999, eps, 0));
  for (int i = 0; i < 4; ++i) {
    const double want =
        w0[i] - lr * g[i] * std::sqrt(0.001) / (std::sqrt(0.001) * std::fabs(g[i]) + eps);
    EXPECT_NEAR(w[i], want, 1e-15) << i;
  }
  EXPECT_NEAR(w0[2] - w[2], 0.01 * 0.2402530733, 1e-9);
}

TEST(OptimizerCpu, AdamStepsFollowTheFormula) {
  const int64_t n = 37;
  std::vector<double> w = test::random_doubles(n, 1), m(n, 0), v(n, 0);
  std::vector<double> rw = w, rm(n, 0), rv(n, 0);
  const double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  for (int64_t step = 0; step < 5; ++step) {
    const std::vector<double> g = test::random_doubles(n, 10 + step);
    adam_step_cpu(w.data(), m.data(), v.data(), g.data(), n,
                  adam_coeffs<double>(lr, b1, b2, eps, step));
    const double t = static_cast<double>(step + 1);
    const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int64_t i = 0; i < n; ++i) {
      rm[i] = b1 * rm[i] + (1 - b1) * g[i];
      rv[i] = b2 * rv[i] + (1 - b2) * g[i] * g[i];
      rw[i] -= alpha * rm[i] / (std::sqrt(rv[i]) + eps);
    }
  }
  EXPECT_TRUE(test::within(test::compare(w.data(), rw.data(), n), 1e-14));
  EXPECT_TRUE(test::within(test::compare(m.data(), rm.data(), n), 1e-15));
  EXPECT_TRUE(test::within(test::compare(v.data(), rv.data(), n), 1e-15));
}

TEST(OptimizerCpu, SgdMomentumAndNesterovByHand) {
  std::vector<double> w = {1.0}, vel = {0.0};
  const double g0[] = {2.0}, g1[] = {-1.0};
  sgd_step_cpu(w.data(), vel.data(), g0, 1, 0.1, 0.9, false);
  EXPECT_NEAR(vel[0], -0.2, 1e-15);
  EXPECT_NEAR(w[0], 0.8, 1e-15);
  sgd_step_cpu(w.data(), vel.data(), g1, 1, 0.1, 0.9, false);
  EXPECT_NEAR(vel[0], 0.1 - 0.18, 1e-15);
  EXPECT_NEAR(w[0], 0.8 - 0.08, 1e-15);
  std::vector<double> wn = {1.0}, veln = {0.0};
  sgd_step_cpu(wn.data(), veln.data(), g0, 1, 0.1, 0.9, true);
  EXPECT_NEAR(veln[0], -0.2, 1e-15);
  EXPECT_NEAR(wn[0], 1.0 - 0.2 - 0.18, 1e-15);  // w += -lr g + momentum * vel
  std::vector<double> wp = {1.0};
  sgd_step_cpu(wp.data(), static_cast<double*>(nullptr), g0, 1, 0.1, 0.0, false);
  EXPECT_NEAR(wp[0], 0.8, 1e-15);
}

TEST(OptimizerCpu, FloatMatchesDouble) {
  const int64_t n = 1001;
  const std::vector<float> w0 = test::random_floats(n, 2), g = test::random_floats(n, 3);
  std::vector<float> w = w0, m(n, 0), v(n, 0);
  std::vector<double> wd(w0.begin(), w0.end()), md(n, 0), vd(n, 0), gd(g.begin(), g.end());
  for (int64_t step = 0; step < 3; ++step) {
    adam_step_cpu(w.data(), m.data(), v.data(), g.data(), n,
                  adam_coeffs<float>(1e-3, 0.9, 0.999, 1e-7, step));
    adam_step_cpu(wd.data(), md.data(), vd.data(), gd.data(), n,
                  adam_coeffs<double>(1e-3, 0.9, 0.999, 1e-7, step));
  }
  // Each step moves a weight by about lr; float rounding of the ratio is ~1e-7 relative.
  EXPECT_TRUE(test::within(test::compare(w.data(), wd.data(), n), 2e-7));
}

// Copies `values` into `store` so that the copy starts `shift` floats past a 16-byte boundary.
float* placed(std::vector<float>& store, const std::vector<float>& values, int shift) {
  store.assign(values.size() + 8, 0.f);
  const uintptr_t addr = reinterpret_cast<uintptr_t>(store.data());
  float* p = store.data() + (16 - addr % 16) % 16 / sizeof(float) + shift;
  std::copy(values.begin(), values.end(), p);
  return p;
}

// The sweep runs the GPU threads' code: aligned arrays take the 128-bit path, shifted ones the
// scalar path; both must give the specification's bits.
TEST(OptimizerCpu, ThreadSweepMatchesSpecificationBitForBit) {
  for (int shift : {0, 1})
  for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{1024}, int64_t{4099}}) {
    SCOPED_TRACE("n " + std::to_string(n) + ", shift " + std::to_string(shift));
    const std::vector<float> w0 = test::random_floats(n, 4), g = test::random_floats(n, 5);
    const std::vector<float> m0 = test::random_floats(n, 6), v0 = test::random_floats(n, 7, 0, 1);
    const AdamCoeffs<float> c = adam_coeffs<float>(1e-3, 0.9, 0.999, 1e-7, 4);
    std::vector<float> w = w0, m = m0, v = v0, sw_store, sm_store, sv_store, sg_store;
    float* sw = placed(sw_store, w0, shift);
    float* sm = placed(sm_store, m0, shift);
    float* sv = placed(sv_store, v0, shift);
    const float* sg = placed(sg_store, g, shift);
    ASSERT_EQ(aligned16(sw) && aligned16(sm) && aligned16(sv) && aligned16(sg), shift == 0);
    adam_step_cpu(w.data(), m.data(), v.data(), g.data(), n, c);
    const int64_t blocks = ((n + 3) / 4 + kOptimizerThreads - 1) / kOptimizerThreads;
    for (int64_t b = 0; b < blocks; ++b)
      for (int t = 0; t < kOptimizerThreads; ++t) adam_thread(sw, sm, sv, sg, n, c, b, t);
    EXPECT_TRUE(test::within(test::compare(sw, w.data(), n), 0.0));
    EXPECT_TRUE(test::within(test::compare(sm, m.data(), n), 0.0));
    EXPECT_TRUE(test::within(test::compare(sv, v.data(), n), 0.0));
    for (bool nesterov : {false, true}) {
      std::vector<float> w1 = w0, vel1 = m0, w2 = w0, vel2 = m0;
      sgd_step_cpu(w1.data(), vel1.data(), g.data(), n, 0.01f, 0.9f, nesterov);
      for (int64_t b = 0; b < blocks; ++b)
        for (int t = 0; t < kOptimizerThreads; ++t)
          sgd_thread(w2.data(), vel2.data(), g.data(), n, 0.01f, 0.9f, nesterov, b, t);
      EXPECT_TRUE(test::within(test::compare(w2.data(), w1.data(), n), 0.0));
      EXPECT_TRUE(test::within(test::compare(vel2.data(), vel1.data(), n), 0.0));
    }
  }
}

TEST(OptimizerGpu, MatchesCpuBitForBit) {
  REQUIRE_CUDA_DEVICE();
  const Device gpu = Device::cuda();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1605954}}) {
    auto host = [n](const std::vector<float>& v) {
      Tensor t = Tensor::empty({n}, DType::F32);
      std::copy(v.begin(), v.end(), t.data<float>());
      return t;
    };
    Tensor w = host(test::random_floats(n, 8)), g = host(test::random_floats(n, 9));
    Tensor m = Tensor::zeros({n}, DType::F32), v = Tensor::zeros({n}, DType::F32);
    Tensor gw = to_device(w, gpu), gg = to_device(g, gpu), gm = to_device(m, gpu),
           gv = to_device(v, gpu);
    for (int64_t step = 0; step < 3; ++step) {
      adam_step(w, m, v, g, 1e-3, 0.9, 0.999, 1e-7, step);
      adam_step(gw, gm, gv, gg, 1e-3, 0.9, 0.999, 1e-7, step);
    }
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gw).data<float>(), w.data<float>(), n), 0.0));
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gm).data<float>(), m.data<float>(), n), 0.0));
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gv).data<float>(), v.data<float>(), n), 0.0));
    // Unaligned start (a view at element 1) takes the scalar path: still the same bits.
    if (n > 4) {
      Tensor wv = w.view(1, {n - 1}), mv = m.view(1, {n - 1}), vv = v.view(1, {n - 1}),
             gv1 = g.view(1, {n - 1});
      Tensor gwv = gw.view(1, {n - 1}), gmv = gm.view(1, {n - 1}), gvv = gv.view(1, {n - 1}),
             ggv = gg.view(1, {n - 1});
      adam_step(wv, mv, vv, gv1, 1e-3, 0.9, 0.999, 1e-7, 3);
      adam_step(gwv, gmv, gvv, ggv, 1e-3, 0.9, 0.999, 1e-7, 3);
      EXPECT_TRUE(
          test::within(test::compare(test::host_copy(gw).data<float>(), w.data<float>(), n), 0.0));
    }
    for (bool nesterov : {false, true}) {
      Tensor vel = Tensor::zeros({n}, DType::F32), gvel = Tensor::zeros({n}, DType::F32, gpu);
      for (int step = 0; step < 2; ++step) {
        sgd_step(w, &vel, g, 0.01, 0.9, nesterov);
        sgd_step(gw, &gvel, gg, 0.01, 0.9, nesterov);
      }
      EXPECT_TRUE(
          test::within(test::compare(test::host_copy(gw).data<float>(), w.data<float>(), n), 0.0));
      EXPECT_TRUE(test::within(
          test::compare(test::host_copy(gvel).data<float>(), vel.data<float>(), n), 0.0));
    }
  }
}

}  // namespace
}  // namespace vggtl
