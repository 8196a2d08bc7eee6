// Softmax cross-entropy: hand-computed values, NumPy-argmax ties, stability with huge logits,
// the gradient against central differences, float against double, the CUDA row function swept
// over its grid, the ordered epoch totals, and GPU against CPU.
#include <cmath>
#include <vector>

#include "kernels/softmax_xent.h"
#include "kernels/softmax_xent_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(SoftmaxXentCpu, HandComputed) {
  // Row 0: logits (0, ln 3) -> p = (1/4, 3/4); label 1: loss = -ln(3/4). Row 1: (2, 2, 2) ->
  // p = 1/3 each; label 2: loss ln 3.
  const double logits[] = {0, std::log(3.0), 0, 2, 2, 2};
  // Two rows of different widths are not possible in one call: run them separately.
  double p[3], d[3], loss[1];
  int32_t pred[1];
  const int32_t l0[] = {1};
  softmax_xent_cpu(p, d, loss, pred, logits, l0, 1, 2);
  EXPECT_NEAR(p[0], 0.25, 1e-15);
  EXPECT_NEAR(p[1], 0.75, 1e-15);
  EXPECT_NEAR(loss[0], -std::log(0.75), 1e-15);
  EXPECT_EQ(pred[0], 1);
  EXPECT_NEAR(d[0], 0.25, 1e-15);
  EXPECT_NEAR(d[1], -0.25, 1e-15);
  const int32_t l1[] = {2};
  softmax_xent_cpu(p, d, loss, pred, logits + 3, l1, 1, 3);
  EXPECT_NEAR(loss[0], std::log(3.0), 1e-15);
  EXPECT_EQ(pred[0], 0);  // a three-way tie: the first index, as numpy.argmax
}

TEST(SoftmaxXentCpu, MeanOverBatchAndStableForHugeLogits) {
  const double logits[] = {1000, 0, -1000, 1000};
  const int32_t labels[] = {1, 0};
  double p[4], d[4], loss[2];
  int32_t pred[2];
  softmax_xent_cpu(p, d, loss, pred, logits, labels, 2, 2);
  EXPECT_NEAR(loss[0], 1000, 1e-9);
  EXPECT_NEAR(loss[1], 2000, 1e-9);
  for (double v : p) EXPECT_FALSE(std::isnan(v));
  EXPECT_EQ(pred[0], 0);
  EXPECT_EQ(pred[1], 1);
  // dlogits = (p - onehot) / N with N = 2.
  EXPECT_NEAR(d[0], 0.5, 1e-15);
  EXPECT_NEAR(d[1], -0.5, 1e-15);
}

TEST(SoftmaxXentCpu, GradientMatchesCentralDifferences) {
  const int64_t n = 4, k = 5;
  std::vector<double> z = test::random_doubles(n * k, 3, -3, 3);
  const int32_t labels[] = {0, 4, 2, 2};
  std::vector<double> p(n * k), d(n * k), loss(n);
  std::vector<int32_t> pred(n);
  auto mean_loss = [&] {
    softmax_xent_cpu(p.data(), static_cast<double*>(nullptr), loss.data(), pred.data(), z.data(),
                     labels, n, k);
    double s = 0;
    for (double v : loss) s += v;
    return s / n;
  };
  softmax_xent_cpu(p.data(), d.data(), loss.data(), pred.data(), z.data(), labels, n, k);
  const std::vector<double> analytic = d;
  const double h = 1e-5;
  for (int64_t i = 0; i < n * k; ++i) {
    const double z0 = z[i];
    z[i] = z0 + h;
    const double lp = mean_loss();
    z[i] = z0 - h;
    const double lm = mean_loss();
    z[i] = z0;
    EXPECT_NEAR((lp - lm) / (2 * h), analytic[i], 1e-9) << i;
  }
}

TEST(SoftmaxXentCpu, FloatMatchesDoubleAndRowSweep) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 2}, {30, 2}, {7, 1000}, {129, 3}}) {
    const std::vector<float> z = test::random_floats(n * k, 5, -8, 8);
    std::vector<double> zd(z.begin(), z.end());
    std::vector<int32_t> labels(n);
    for (int64_t r = 0; r < n; ++r) labels[r] = static_cast<int32_t>((r * 7) % k);
    std::vector<float> p(n * k), d(n * k), loss(n);
    std::vector<double> pd(n * k), dd(n * k), lossd(n);
    std::vector<int32_t> pred(n), predd(n);
    softmax_xent_cpu(p.data(), d.data(), loss.data(), pred.data(), z.data(), labels.data(), n, k);
    softmax_xent_cpu(pd.data(), dd.data(), lossd.data(), predd.data(), zd.data(), labels.data(), n,
                     k);
    EXPECT_TRUE(test::within(test::compare(p.data(), pd.data(), n * k), 1e-7));
    EXPECT_TRUE(test::within(test::compare(loss.data(), lossd.data(), n), 1e-6));
    EXPECT_EQ(pred, predd);
    std::vector<float> sp(n * k, std::nanf("")), sd(n * k, std::nanf("")), sl(n, std::nanf(""));
    std::vector<int32_t> spred(n, -1);
    const int64_t blocks = (n + kXentThreads - 1) / kXentThreads;
    for (int64_t b = 0; b < blocks; ++b)
      for (int t = 0; t < kXentThreads; ++t)
        softmax_xent_thread(sp.data(), sd.data(), sl.data(), spred.data(), z.data(), labels.data(),
                            n, k, b, t);
    // The thread function is the same double arithmetic: identical.
    EXPECT_TRUE(test::within(test::compare(sp.data(), p.data(), n * k), 0.0));
    EXPECT_TRUE(test::within(test::compare(sd.data(), d.data(), n * k), 0.0));
    EXPECT_TRUE(test::within(test::compare(sl.data(), loss.data(), n), 0.0));
    EXPECT_EQ(spred, pred);
  }
}

TEST(SoftmaxXentCpu, TotalsAccumulateInOrder) {
  const float loss[] = {0.5f, 1.5f, 2.0f};
  const int32_t pred[] = {0, 1, 1}, labels[] = {0, 0, 1};
  double totals[3] = {1.0, 4.0, 10.0};
  xent_accumulate_cpu(totals, loss, pred, labels, 3);
  EXPECT_EQ(totals[0], 5.0);
  EXPECT_EQ(totals[1], 6.0);
  EXPECT_EQ(totals[2], 13.0);
}

// xent_accumulate_cuda's thread work, swept on the CPU over its one-thread grid: the same sums
// in the same order as the specification, so the same bits, from running totals that are not
// zero; no rows, one row, and more rows than a softmax block.
TEST(SoftmaxXentCpu, TotalsThreadSweepMatchesSpecification) {
  for (int64_t n : {0, 1, 7, 129}) {
    const std::vector<float> loss = test::random_floats(n, 11, 0, 5);
    std::vector<int32_t> pred(n), labels(n);
    for (int64_t r = 0; r < n; ++r) {
      pred[r] = static_cast<int32_t>(r % 3);
      labels[r] = static_cast<int32_t>((r * 7) % 3);
    }
    double spec[3] = {12.25, 3.0, 40.0};
    double swept[3] = {12.25, 3.0, 40.0};
    xent_accumulate_cpu(spec, loss.data(), pred.data(), labels.data(), n);
    test::sweep_grid(1, 1, [&](uint32_t block, uint32_t t) {
      xent_accumulate_thread(swept, loss.data(), pred.data(), labels.data(), n, block,
                             static_cast<int>(t));
    });
    for (int i = 0; i < 3; ++i) EXPECT_EQ(swept[i], spec[i]) << "n=" << n << " total " << i;
  }
}

TEST(SoftmaxXentCpu, TensorLevelRejectsLabelOutOfRange) {
  Tensor z = Tensor::zeros({2, 3}, DType::F32), p = Tensor::empty({2, 3}, DType::F32);
  Tensor pred = Tensor::empty({2}, DType::I32), labels = Tensor::empty({2}, DType::I32);
  labels.data<int32_t>()[0] = 1;
  labels.data<int32_t>()[1] = 3;
  Tensor loss = Tensor::empty({2}, DType::F32);
  EXPECT_THROW(softmax_xent(p, nullptr, &loss, pred, z, &labels), Error);
  labels.data<int32_t>()[1] = 2;
  softmax_xent(p, nullptr, &loss, pred, z, &labels);
  EXPECT_NEAR(loss.data<float>()[0], std::log(3.0), 1e-6);
}

TEST(SoftmaxXentGpu, MatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 2}, {30, 2}, {7, 1000}, {301, 3}}) {
    Tensor z = Tensor::empty({n, k}, DType::F32), labels = Tensor::empty({n}, DType::I32);
    const std::vector<float> zv = test::random_floats(n * k, 8, -8, 8);
    std::copy(zv.begin(), zv.end(), z.data<float>());
    for (int64_t r = 0; r < n; ++r) labels.data<int32_t>()[r] = static_cast<int32_t>((r * 5) % k);
    Tensor p = Tensor::empty({n, k}, DType::F32), d = Tensor::empty({n, k}, DType::F32);
    Tensor loss = Tensor::empty({n}, DType::F32), pred = Tensor::empty({n}, DType::I32);
    Tensor totals = Tensor::zeros({3}, DType::F64);
    softmax_xent(p, &d, &loss, pred, z, &labels);
    xent_accumulate(totals, loss, pred, labels);
    const Device g = Device::cuda();
    Tensor gz = to_device(z, g), glabels = to_device(labels, g);
    Tensor gp = test::poisoned({n, k}, DType::F32, g), gd = test::poisoned({n, k}, DType::F32, g);
    Tensor gloss = test::poisoned({n}, DType::F32, g), gpred = test::poisoned({n}, DType::I32, g);
    Tensor gtotals = Tensor::zeros({3}, DType::F64, g);
    softmax_xent(gp, &gd, &gloss, gpred, gz, &glabels);
    xent_accumulate(gtotals, gloss, gpred, glabels);
    // Same double arithmetic; the GPU's exp/log may differ from glibc's in the last double bit,
    // which can move a float result by one ulp: 6e-8 for probabilities, 2e-6 for losses up to 32.
    EXPECT_TRUE(test::within(
        test::compare(test::host_copy(gp).data<float>(), p.data<float>(), n * k), 1e-7));
    EXPECT_TRUE(test::within(
        test::compare(test::host_copy(gd).data<float>(), d.data<float>(), n * k), 1e-7));
    EXPECT_TRUE(test::within(
        test::compare(test::host_copy(gloss).data<float>(), loss.data<float>(), n), 4e-6));
    Tensor hp = test::host_copy(gpred), ht = test::host_copy(gtotals);
    for (int64_t r = 0; r < n; ++r) EXPECT_EQ(hp.data<int32_t>()[r], pred.data<int32_t>()[r]);
    EXPECT_NEAR(ht.data<double>()[0], totals.data<double>()[0], 1e-6 * n);
    EXPECT_EQ(ht.data<double>()[1], totals.data<double>()[1]);
    EXPECT_EQ(ht.data<double>()[2], static_cast<double>(n));
  }
}

}  // namespace
}  // namespace vggtl
