// BatchNorm kernels: a hand-computed batch (biased variance, moving-statistic update), backward
// against the textbook chain rule, evaluation with moving statistics, float against double, the
// CUDA block programs and per-thread functions swept on the CPU over their grids, GPU against CPU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/batchnorm_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

constexpr double kEps = 1e-3;
constexpr double kDecay = 0.01;  // 1 - momentum 0.99

TEST(BatchnormCpu, TrainForwardHandComputed) {
  // Column 0: {1, 3} -> mean 2, biased variance 1. Column 1: {2, 6} -> mean 4, variance 4.
  const double x[] = {1, 2, 3, 6};
  const double gamma[] = {1, 2}, beta[] = {0, 1};
  double mm[] = {0, 0}, mv[] = {1, 1};
  double y[4], mean[2], inv_std[2];
  batchnorm_train_forward_cpu(y, mean, inv_std, mm, mv, x, gamma, beta, 2, 2, kEps, kDecay);
  EXPECT_DOUBLE_EQ(mean[0], 2);
  EXPECT_DOUBLE_EQ(mean[1], 4);
  EXPECT_DOUBLE_EQ(inv_std[0], 1 / std::sqrt(1 + kEps));
  EXPECT_DOUBLE_EQ(inv_std[1], 1 / std::sqrt(4 + kEps));
  EXPECT_NEAR(y[0], -1 / std::sqrt(1 + kEps), 1e-15);
  EXPECT_NEAR(y[1], 2 * -2 / std::sqrt(4 + kEps) + 1, 1e-15);
  EXPECT_NEAR(y[2], 1 / std::sqrt(1 + kEps), 1e-15);
  EXPECT_NEAR(y[3], 2 * 2 / std::sqrt(4 + kEps) + 1, 1e-15);
  // moving = moving*0.99 + stat*0.01, with the biased variance.
  EXPECT_NEAR(mm[0], 0.02, 1e-15);
  EXPECT_NEAR(mm[1], 0.04, 1e-15);
  EXPECT_NEAR(mv[0], 1.0, 1e-15);
  EXPECT_NEAR(mv[1], 0.99 + 0.04, 1e-15);
}

TEST(BatchnormCpu, EvalUsesMovingStatistics) {
  const double x[] = {1, 2, 3, 6};
  const double gamma[] = {1.5, 2}, beta[] = {0.25, 1}, mm[] = {0.5, -1}, mv[] = {2, 0.5};
  double y[4], mean[2], inv_std[2];
  batchnorm_eval_forward_cpu(y, mean, inv_std, x, gamma, beta, mm, mv, 2, 2, kEps);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_NEAR(y[r * 2 + c],
                  gamma[c] * (x[r * 2 + c] - mm[c]) / std::sqrt(mv[c] + kEps) + beta[c], 1e-14);
  EXPECT_EQ(mean[1], -1);
}

// The textbook chain rule through mean and variance (Ioffe & Szegedy, 2015, section 3), written
// independently of the compact formula the kernels use.
void textbook_backward(std::vector<double>& dx, std::vector<double>& dgamma,
                       std::vector<double>& dbeta, const std::vector<double>& dy,
                       const std::vector<double>& x, const std::vector<double>& gamma, int64_t rows,
                       int64_t cols) {
  dx.assign(rows * cols, 0);
  dgamma.assign(cols, 0);
  dbeta.assign(cols, 0);
  for (int64_t c = 0; c < cols; ++c) {
    double mu = 0, var = 0;
    for (int64_t r = 0; r < rows; ++r) mu += x[r * cols + c] / rows;
    for (int64_t r = 0; r < rows; ++r)
      var += (x[r * cols + c] - mu) * (x[r * cols + c] - mu) / rows;
    const double sd = std::sqrt(var + kEps);
    double dvar = 0, dmu = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double dxhat = dy[r * cols + c] * gamma[c];
      dvar += dxhat * (x[r * cols + c] - mu) * -0.5 / (sd * sd * sd);
      dmu += -dxhat / sd;
      dgamma[c] += dy[r * cols + c] * (x[r * cols + c] - mu) / sd;
      dbeta[c] += dy[r * cols + c];
    }
    for (int64_t r = 0; r < rows; ++r) dmu += dvar * -2 * (x[r * cols + c] - mu) / rows;
    for (int64_t r = 0; r < rows; ++r)
      dx[r * cols + c] =
          dy[r * cols + c] * gamma[c] / sd + dvar * 2 * (x[r * cols + c] - mu) / rows + dmu / rows;
  }
}

TEST(BatchnormCpu, BackwardMatchesTextbookChainRule) {
  const int64_t rows = 5, cols = 3;
  const std::vector<double> x = test::random_doubles(rows * cols, 1),
                            dy = test::random_doubles(rows * cols, 2);
  const std::vector<double> gamma = test::random_doubles(cols, 3, 0.5, 2),
                            beta = test::random_doubles(cols, 4);
  std::vector<double> y(rows * cols), mean(cols), inv_std(cols), mm(cols, 0), mv(cols, 1);
  batchnorm_train_forward_cpu(y.data(), mean.data(), inv_std.data(), mm.data(), mv.data(), x.data(),
                              gamma.data(), beta.data(), rows, cols, kEps, kDecay);
  std::vector<double> dx(rows * cols), dgamma(cols), dbeta(cols);
  batchnorm_backward_cpu(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), gamma.data(),
                         mean.data(), inv_std.data(), rows, cols, true);
  std::vector<double> tdx, tdgamma, tdbeta;
  textbook_backward(tdx, tdgamma, tdbeta, dy, x, gamma, rows, cols);
  EXPECT_TRUE(test::within(test::compare(dx.data(), tdx.data(), rows * cols), 1e-13));
  EXPECT_TRUE(test::within(test::compare(dgamma.data(), tdgamma.data(), cols), 1e-13));
  EXPECT_TRUE(test::within(test::compare(dbeta.data(), tdbeta.data(), cols), 1e-13));
  // With fixed (moving) statistics dx is just dy * gamma * inv_std.
  batchnorm_backward_cpu<double>(dx.data(), nullptr, nullptr, dy.data(), x.data(), gamma.data(),
                                 mean.data(), inv_std.data(), rows, cols, false);
  for (int64_t i = 0; i < rows * cols; ++i)
    EXPECT_NEAR(dx[i], dy[i] * gamma[i % cols] * inv_std[i % cols], 1e-15);
}

struct Data {
  int64_t rows, cols;
  std::vector<float> x, dy, gamma, beta, mm, mv;
  Data(int64_t r, int64_t c, uint64_t seed) : rows(r), cols(c) {
    x = test::random_floats(r * c, seed, -2, 3);
    dy = test::random_floats(r * c, seed + 1);
    gamma = test::random_floats(c, seed + 2, 0.5, 1.5);
    beta = test::random_floats(c, seed + 3);
    mm = test::random_floats(c, seed + 4);
    mv = test::random_floats(c, seed + 5, 0.5, 2);
  }
};

TEST(BatchnormCpu, FloatMatchesDouble) {
  const Data d(31, 7, 10);
  auto dbl = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  std::vector<float> y(d.x.size()), mean(d.cols), is(d.cols), mm = d.mm, mv = d.mv, dx(d.x.size()),
                                                              dg(d.cols), db(d.cols);
  std::vector<double> yd(d.x.size()), meand(d.cols), isd(d.cols),
      mmd = dbl(d.mm), mvd = dbl(d.mv), dxd(d.x.size()), dgd(d.cols), dbd(d.cols);
  const auto xd = dbl(d.x), dyd = dbl(d.dy), gd = dbl(d.gamma), bd = dbl(d.beta);
  batchnorm_train_forward_cpu(y.data(), mean.data(), is.data(), mm.data(), mv.data(), d.x.data(),
                              d.gamma.data(), d.beta.data(), d.rows, d.cols, kEps, kDecay);
  batchnorm_train_forward_cpu(yd.data(), meand.data(), isd.data(), mmd.data(), mvd.data(),
                              xd.data(), gd.data(), bd.data(), d.rows, d.cols, kEps, kDecay);
  batchnorm_backward_cpu(dx.data(), dg.data(), db.data(), d.dy.data(), d.x.data(), d.gamma.data(),
                         mean.data(), is.data(), d.rows, d.cols, true);
  batchnorm_backward_cpu(dxd.data(), dgd.data(), dbd.data(), dyd.data(), xd.data(), gd.data(),
                         meand.data(), isd.data(), d.rows, d.cols, true);
  const int64_t n = d.rows * d.cols;
  EXPECT_TRUE(test::within_rms(test::compare(y.data(), yd.data(), n), n, 1e-6));
  EXPECT_TRUE(test::within(test::compare(mm.data(), mmd.data(), d.cols), 1e-7));
  EXPECT_TRUE(test::within(test::compare(mv.data(), mvd.data(), d.cols), 1e-6));
  EXPECT_TRUE(test::within_rms(test::compare(dx.data(), dxd.data(), n), n, 1e-5));
  EXPECT_TRUE(test::within(test::compare(dg.data(), dgd.data(), d.cols), 1e-5));
  EXPECT_TRUE(test::within(test::compare(db.data(), dbd.data(), d.cols), 1e-6));
}

// The outputs of one CPU sweep of the train-forward and backward block programs, each with a
// poisoned tail of kGuard elements that must stay untouched.
constexpr size_t kGuard = 40;  // more than one tile's spare threads
struct Swept {
  std::vector<float> y, mean, inv_std, moving_mean, moving_var;  // train forward
  std::vector<float> dx, dgamma, dbeta;                           // backward, batch statistics
  std::vector<float> dx_fixed;                                    // backward, fixed statistics

  std::vector<std::vector<float>*> all() {
    return {&y, &mean, &inv_std, &moving_mean, &moving_var, &dx, &dgamma, &dbeta, &dx_fixed};
  }
};

std::vector<float> guarded(std::vector<float> v, size_t n) {
  v.resize(n);
  v.resize(n + kGuard, std::nanf(""));
  return v;
}

Swept sweep(const Data& d, const std::vector<float>& mean, const std::vector<float>& inv_std,
            test::ThreadOrder order) {
  const int64_t rows = d.rows, cols = d.cols, n = rows * cols;
  const int64_t blocks = column_tile_blocks(cols, "test");
  Swept s;
  s.y = s.dx = s.dx_fixed = guarded({}, n);
  s.mean = s.inv_std = s.dgamma = s.dbeta = guarded({}, cols);
  s.moving_mean = guarded(d.mm, cols);
  s.moving_var = guarded(d.mv, cols);
  test::sweep_block_phases(
      BnTrainForwardBlock{s.y.data(), s.mean.data(), s.inv_std.data(), s.moving_mean.data(),
                          s.moving_var.data(), d.x.data(), d.gamma.data(), d.beta.data(), rows,
                          cols, kEps, static_cast<float>(kDecay)},
      blocks, order);
  // Backward from the specification's statistics, so that its error is its own.
  test::sweep_block_phases(
      BnBackwardBlock{s.dx.data(), s.dgamma.data(), s.dbeta.data(), d.dy.data(), d.x.data(),
                      d.gamma.data(), mean.data(), inv_std.data(), rows, cols, true},
      blocks, order);
  test::sweep_block_phases(BnBackwardBlock{s.dx_fixed.data(), nullptr, nullptr, d.dy.data(),
                                           d.x.data(), d.gamma.data(), mean.data(), inv_std.data(),
                                           rows, cols, false},
                           blocks, order);
  return s;
}

// The train-forward and backward block programs, run on the CPU over their launch grids with
// their barriers and in both thread orders, and the eval kernel's threads over theirs, must
// reproduce the specification and write nothing past the last row or column: one row, rows not
// a multiple of kColumnTileY, columns not a multiple of kColumnTileX.
TEST(BatchnormCpu, BlockSweepMatchesSpecification) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {1, 33}, {7, 3}, {9, 31}, {13, 33},
                            {30, 64}, {3, 70}}) {
    SCOPED_TRACE(testing::Message() << rows << "x" << cols);
    const Data d(rows, cols, 20);
    const int64_t n = rows * cols;
    std::vector<float> y(n), mean(cols), is(cols), mm = d.mm, mv = d.mv;
    batchnorm_train_forward_cpu(y.data(), mean.data(), is.data(), mm.data(), mv.data(), d.x.data(),
                                d.gamma.data(), d.beta.data(), rows, cols, kEps, kDecay);
    std::vector<float> dx(n), dg(cols), db(cols), dx_fixed(n);
    batchnorm_backward_cpu(dx.data(), dg.data(), db.data(), d.dy.data(), d.x.data(), d.gamma.data(),
                           mean.data(), is.data(), rows, cols, true);
    batchnorm_backward_cpu<float>(dx_fixed.data(), nullptr, nullptr, d.dy.data(), d.x.data(),
                                  d.gamma.data(), mean.data(), is.data(), rows, cols, false);

    std::vector<Swept> by_order;
    for (test::ThreadOrder order : {test::ThreadOrder::Forward, test::ThreadOrder::Reversed}) {
      Swept& s = by_order.emplace_back(sweep(d, mean, is, order));
      // Double statistics summed in another order, rounded to float: an ulp or so; y and dx are
      // float arithmetic on them.
      EXPECT_TRUE(test::within(test::compare(s.mean.data(), mean.data(), cols), 1e-6));
      EXPECT_TRUE(test::within(test::compare(s.inv_std.data(), is.data(), cols), 1e-5));
      EXPECT_TRUE(test::within(test::compare(s.moving_mean.data(), mm.data(), cols), 1e-6));
      EXPECT_TRUE(test::within(test::compare(s.moving_var.data(), mv.data(), cols), 1e-6));
      EXPECT_TRUE(test::within_rms(test::compare(s.y.data(), y.data(), n), n, 1e-5));
      EXPECT_TRUE(test::within_rms(test::compare(s.dx.data(), dx.data(), n), n, 1e-6));
      EXPECT_TRUE(test::within(test::compare(s.dgamma.data(), dg.data(), cols), 1e-5));
      EXPECT_TRUE(test::within(test::compare(s.dbeta.data(), db.data(), cols), 1e-5));
      EXPECT_TRUE(test::within_rms(test::compare(s.dx_fixed.data(), dx_fixed.data(), n), n, 1e-6));
      for (std::vector<float>* v : s.all())
        EXPECT_EQ(test::overwritten(*v, v->size() - kGuard, std::nanf("")), 0);
    }
    // A result that depends on the order of the threads within a phase is a missing barrier.
    for (size_t i = 0; i < by_order[0].all().size(); ++i) {
      const std::vector<float>& a = *by_order[0].all()[i];
      const std::vector<float>& b = *by_order[1].all()[i];
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "output " << i;
    }

    std::vector<float> ey(n), emean(cols), eis(cols);
    batchnorm_eval_forward_cpu(ey.data(), emean.data(), eis.data(), d.x.data(), d.gamma.data(),
                               d.beta.data(), d.mm.data(), d.mv.data(), rows, cols, kEps);
    std::vector<float> sy(n, std::nanf("")), smean(cols, std::nanf("")), sis(cols, std::nanf(""));
    const RowStridedGrid g = row_strided_grid(rows, cols, kBnEvalThreads, "test");
    for (int64_t bx = 0; bx < g.x; ++bx)
      for (int64_t by = 0; by < g.y; ++by)
        for (int t = 0; t < kBnEvalThreads; ++t)
          bn_eval_thread(sy.data(), smean.data(), sis.data(), d.x.data(), d.gamma.data(),
                         d.beta.data(), d.mm.data(), d.mv.data(), rows, cols, kEps, bx, by, g.y, t);
    EXPECT_TRUE(test::within_rms(test::compare(sy.data(), ey.data(), n), n, 1e-6));
    EXPECT_TRUE(test::within(test::compare(smean.data(), emean.data(), cols), 0.0));
    EXPECT_TRUE(test::within(test::compare(sis.data(), eis.data(), cols), 0.0));
  }
}

TEST(BatchnormGpu, MatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{1, 1}, {30, 64}, {13, 33}, {3, 70}, {1000, 5}}) {
    const Data d(rows, cols, 30);
    const int64_t n = rows * cols;
    auto host = [](const std::vector<float>& v, Shape s) {
      Tensor t = Tensor::empty(s, DType::F32);
      std::copy(v.begin(), v.end(), t.data<float>());
      return t;
    };
    Tensor x = host(d.x, {rows, cols}), dy = host(d.dy, {rows, cols}),
           gamma = host(d.gamma, {cols}), beta = host(d.beta, {cols}), mm = host(d.mm, {cols}),
           mv = host(d.mv, {cols});
    Tensor gx = to_device(x, Device::cuda()), gdy = to_device(dy, Device::cuda()),
           ggamma = to_device(gamma, Device::cuda()), gbeta = to_device(beta, Device::cuda()),
           gmm = to_device(mm, Device::cuda()), gmv = to_device(mv, Device::cuda());
    Tensor y = Tensor::empty({rows, cols}, DType::F32), mean = Tensor::empty({cols}, DType::F32),
           is = Tensor::empty({cols}, DType::F32);
    Tensor gy = test::poisoned({rows, cols}, DType::F32, Device::cuda());
    Tensor gmean = test::poisoned({cols}, DType::F32, Device::cuda()),
           gis = test::poisoned({cols}, DType::F32, Device::cuda());
    batchnorm_train_forward(y, mean, is, mm, mv, x, gamma, beta, kEps, kDecay);
    batchnorm_train_forward(gy, gmean, gis, gmm, gmv, gx, ggamma, gbeta, kEps, kDecay);
    // fp32 outputs of double statistics: a few ulps (FMA on the GPU).
    EXPECT_TRUE(test::within_rms(
        test::compare(test::host_copy(gy).data<float>(), y.data<float>(), n), n, 1e-5));
    EXPECT_TRUE(test::within(
        test::compare(test::host_copy(gmm).data<float>(), mm.data<float>(), cols), 1e-6));
    EXPECT_TRUE(test::within(
        test::compare(test::host_copy(gmv).data<float>(), mv.data<float>(), cols), 1e-6));

    Tensor dx = Tensor::empty({rows, cols}, DType::F32), dg = Tensor::empty({cols}, DType::F32),
           db = Tensor::empty({cols}, DType::F32);
    Tensor gdx = test::poisoned({rows, cols}, DType::F32, Device::cuda());
    Tensor gdg = test::poisoned({cols}, DType::F32, Device::cuda()),
           gdb = test::poisoned({cols}, DType::F32, Device::cuda());
    batchnorm_backward(&dx, &dg, &db, dy, x, gamma, mean, is, true);
    batchnorm_backward(&gdx, &gdg, &gdb, gdy, gx, ggamma, gmean, gis, true);
    EXPECT_TRUE(test::within_rms(
        test::compare(test::host_copy(gdx).data<float>(), dx.data<float>(), n), n, 1e-4));
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gdg).data<float>(), dg.data<float>(), cols),
                     1e-5 * std::sqrt(double(rows))));
    EXPECT_TRUE(
        test::within(test::compare(test::host_copy(gdb).data<float>(), db.data<float>(), cols),
                     1e-5 * std::sqrt(double(rows))));

    Tensor ey = Tensor::empty({rows, cols}, DType::F32);
    Tensor gey = test::poisoned({rows, cols}, DType::F32, Device::cuda());
    batchnorm_eval_forward(ey, mean, is, x, gamma, beta, mm, mv, kEps);
    batchnorm_eval_forward(gey, gmean, gis, gx, ggamma, gbeta, gmm, gmv, kEps);
    EXPECT_TRUE(test::within_rms(
        test::compare(test::host_copy(gey).data<float>(), ey.data<float>(), n), n, 1e-5));
  }
}

}  // namespace
}  // namespace vggtl
