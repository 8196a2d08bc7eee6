// tf.keras equivalence on a tiny fixed problem: batch 3, 4 features -> Dense(3, relu) ->
// BatchNormalization -> Dropout(0) -> Dense(2) -> softmax cross-entropy, fixed weights, three
// Adam steps at lr 0.1 (large, so that every step changes every weight visibly).
//
// How the expected values are derived: `Reference` below re-implements, in plain double loops
// and independently of the library's kernels, tf.keras's formulas:
// Dense x@W+b then ReLU; BatchNormalization with batch mean and BIASED variance, epsilon 1e-3,
// y = gamma*(h-mu)/sqrt(var+eps) + beta, moving = moving - (moving - stat)*(1 - 0.99);
// softmax cross-entropy from logits, mean over the batch; Adam with t = step+1,
// alpha = lr*sqrt(1-b2^t)/(1-b1^t), m += (g-m)(1-b1), v += (g^2-v)(1-b2),
// w -= alpha*m/(sqrt(v)+1e-7). Its gradients come from the textbook chain rule (through the
// batch mean and variance, Ioffe & Szegedy 2015), not from the compact formula the library
// uses. The data were chosen so that every pre-activation stays at least 0.1 away from the ReLU
// kink in all three steps and every hidden unit is active for some rows and not others (checked
// below), so that float and double runs take the same branches. The library then runs the same
// problem in f64 (must agree to 1e-12) and in f32, the precision of real runs (1e-5).
#include <cmath>
#include <vector>

#include "layer_test_util.h"
#include "layers/batch_normalization.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

namespace vggtl {
namespace {

constexpr int N = 3, I = 4, H = 3, K = 2;
const double kX[N][I] = {{1.0, 2.0, -1.0, 0.5}, {-1.0, 0.5, 2.0, 1.0}, {0.5, -1.5, 1.0, -2.0}};
const int kY[N] = {0, 1, 1};
const double kW1[I][H] = {
    {0.0, -0.2, -0.3}, {0.1, -0.1, -0.4}, {-0.7, -0.5, 0.7}, {0.7, 0.3, -0.4}};
const double kB1[H] = {0.02, 0.12, 0.12};
const double kW2[H][K] = {{-0.7, 0.8}, {0.5, 0.2}, {0.6, -0.7}};

struct Reference {
  // Weights in the order the model's arena holds them: W1, b1, gamma, beta, W2, b2.
  std::vector<std::vector<double>> w = {std::vector<double>(&kW1[0][0], &kW1[0][0] + I * H),
                                        std::vector<double>(kB1, kB1 + H),
                                        std::vector<double>(H, 1.0),
                                        std::vector<double>(H, 0.0),
                                        std::vector<double>(&kW2[0][0], &kW2[0][0] + H * K),
                                        std::vector<double>(K, 0.0)};
  std::vector<std::vector<double>> m, v;
  std::vector<double> moving_mean = std::vector<double>(H, 0.0),
                      moving_var = std::vector<double>(H, 1.0);
  double min_margin = 1e30;
  bool units_mixed = true;

  Reference() {
    for (const auto& p : w) {
      m.emplace_back(p.size(), 0.0);
      v.emplace_back(p.size(), 0.0);
    }
  }

  double W1(int i, int c) const { return w[0][i * H + c]; }
  double W2(int c, int k) const { return w[4][c * K + k]; }

  // One training step: returns the batch loss before the update.
  double train_step(int step) {
    double z[N][H], h[N][H], mu[H], var[H], sd[H], xh[N][H], o[N][H], dl[N][K];
    for (int r = 0; r < N; ++r) {
      for (int c = 0; c < H; ++c) {
        z[r][c] = w[1][c];
        for (int i = 0; i < I; ++i) z[r][c] += kX[r][i] * W1(i, c);
        min_margin = std::min(min_margin, std::fabs(z[r][c]));
        h[r][c] = z[r][c] > 0 ? z[r][c] : 0.0;
      }
    }
    for (int c = 0; c < H; ++c) {
      int active = 0;
      mu[c] = var[c] = 0;
      for (int r = 0; r < N; ++r) {
        mu[c] += h[r][c] / N;
        active += z[r][c] > 0;
      }
      units_mixed = units_mixed && active > 0 && active < N;
      for (int r = 0; r < N; ++r) var[c] += (h[r][c] - mu[c]) * (h[r][c] - mu[c]) / N;
      sd[c] = std::sqrt(var[c] + 1e-3);
      for (int r = 0; r < N; ++r) {
        xh[r][c] = (h[r][c] - mu[c]) / sd[c];
        o[r][c] = w[2][c] * xh[r][c] + w[3][c];
      }
    }
    double loss = 0;
    for (int r = 0; r < N; ++r) {
      double logit[K], mx = -1e30, s = 0;
      for (int k = 0; k < K; ++k) {
        logit[k] = w[5][k];
        for (int c = 0; c < H; ++c) logit[k] += o[r][c] * W2(c, k);
        mx = std::max(mx, logit[k]);
      }
      for (int k = 0; k < K; ++k) s += std::exp(logit[k] - mx);
      loss += -(logit[kY[r]] - mx - std::log(s)) / N;
      for (int k = 0; k < K; ++k)
        dl[r][k] = (std::exp(logit[k] - mx) / s - (k == kY[r] ? 1.0 : 0.0)) / N;
    }
    std::vector<std::vector<double>> g;
    for (const auto& p : w) g.emplace_back(p.size(), 0.0);
    double dout[N][H] = {};
    for (int r = 0; r < N; ++r) {
      for (int k = 0; k < K; ++k) {
        g[5][k] += dl[r][k];
        for (int c = 0; c < H; ++c) {
          g[4][c * K + k] += o[r][c] * dl[r][k];
          dout[r][c] += dl[r][k] * W2(c, k);
        }
      }
    }
    for (int c = 0; c < H; ++c) {
      double dvar = 0, dmu = 0, sum_dev = 0;
      for (int r = 0; r < N; ++r) {
        g[2][c] += dout[r][c] * xh[r][c];
        g[3][c] += dout[r][c];
        const double dxh = dout[r][c] * w[2][c];
        dvar += dxh * (h[r][c] - mu[c]) * -0.5 * std::pow(var[c] + 1e-3, -1.5);
        dmu += -dxh / sd[c];
        sum_dev += -2 * (h[r][c] - mu[c]);
      }
      dmu += dvar * sum_dev / N;
      for (int r = 0; r < N; ++r) {
        const double dh = dout[r][c] * w[2][c] / sd[c] + dvar * 2 * (h[r][c] - mu[c]) / N + dmu / N;
        const double dz = z[r][c] > 0 ? dh : 0.0;
        g[1][c] += dz;
        for (int i = 0; i < I; ++i) g[0][i * H + c] += kX[r][i] * dz;
      }
      moving_mean[c] -= (moving_mean[c] - mu[c]) * (1 - 0.99);
      moving_var[c] -= (moving_var[c] - var[c]) * (1 - 0.99);
    }
    const double t = step + 1, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-7;
    const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (size_t p = 0; p < w.size(); ++p) {
      for (size_t i = 0; i < w[p].size(); ++i) {
        m[p][i] += (g[p][i] - m[p][i]) * (1 - b1);
        v[p][i] += (g[p][i] * g[p][i] - v[p][i]) * (1 - b2);
        w[p][i] -= alpha * m[p][i] / (std::sqrt(v[p][i]) + eps);
      }
    }
    return loss;
  }
};

struct Library {
  Model model;
  SoftmaxCrossEntropy loss;
  std::unique_ptr<Adam> adam;
  Tensor x, labels;

  explicit Library(DType dtype) : model(Device::cpu(), dtype), loss(Device::cpu()) {
    model.emplace<Dense>("dense_1", I, H, Activation::ReLU);
    model.emplace<BatchNormalization>("batch_normalization", H);
    model.emplace<Dropout>("dropout", 0.0f);
    model.emplace<Dense>("dense_2", H, K);
    model.build(Shape{I}, dtype);
    model.initialize(0);
    const Reference start;
    write_values(model.param("dense_1", "kernel").value, start.w[0]);
    write_values(model.param("dense_1", "bias").value, start.w[1]);
    write_values(model.param("dense_2", "kernel").value, start.w[4]);
    adam = std::make_unique<Adam>(model.param_arena(), model.grad_arena(),
                                  AdamConfig{0.1, 0.9, 0.999, 1e-7});
    x = test::tensor_of({N, I}, std::vector<double>(&kX[0][0], &kX[0][0] + N * I), dtype);
    labels = Tensor::empty({N}, DType::I32);
    for (int r = 0; r < N; ++r) labels.data<int32_t>()[r] = kY[r];
  }

  double train_step(int step) {
    loss.forward(model.forward(x, Pass{Mode::Train, 42, static_cast<uint32_t>(step)}), &labels,
                 true);
    const double value = loss.batch_sums().mean_loss();
    model.backward(loss.dlogits());
    adam->step();
    return value;
  }

  std::vector<double> weights(int p) {
    static const char* names[][2] = {
        {"dense_1", "kernel"},           {"dense_1", "bias"},   {"batch_normalization", "gamma"},
        {"batch_normalization", "beta"}, {"dense_2", "kernel"}, {"dense_2", "bias"}};
    return test::values_of(model.param(names[p][0], names[p][1]).value);
  }
};

void expect_matches_reference(DType dtype, double tol) {
  Reference ref;
  Library lib(dtype);
  for (int step = 0; step < 3; ++step) {
    const double want = ref.train_step(step);
    EXPECT_NEAR(lib.train_step(step), want, tol * std::max(1.0, std::fabs(want)))
        << "loss of step " << step;
  }
  ASSERT_GT(ref.min_margin, 0.1) << "the fixed data must keep pre-activations off the ReLU kink";
  ASSERT_TRUE(ref.units_mixed) << "each hidden unit must be active for some rows only";
  for (int p = 0; p < 6; ++p) {
    const std::vector<double> got = lib.weights(p);
    ASSERT_EQ(got.size(), ref.w[p].size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], ref.w[p][i], tol) << "weight " << p << "[" << i << "]";
  }
  const std::vector<double> mm =
      test::values_of(lib.model.param("batch_normalization", "moving_mean").value);
  const std::vector<double> mv =
      test::values_of(lib.model.param("batch_normalization", "moving_variance").value);
  for (int c = 0; c < H; ++c) {
    EXPECT_NEAR(mm[c], ref.moving_mean[c], tol);
    EXPECT_NEAR(mv[c], ref.moving_var[c], tol);
  }
}

TEST(KerasEquivalence, ThreeAdamStepsInDouble) { expect_matches_reference(DType::F64, 1e-12); }

// f32 rounding of ~1e-7 relative per operation, over three steps of a well-conditioned problem.
TEST(KerasEquivalence, ThreeAdamStepsInFloat) { expect_matches_reference(DType::F32, 1e-5); }

TEST(KerasEquivalence, StepsChangeEveryWeightVisibly) {
  Reference ref;
  const Reference start;
  for (int step = 0; step < 3; ++step) ref.train_step(step);
  // Three steps of about lr = 0.1 each: any formula slip shows up far above the tolerances.
  for (int p = 0; p < 6; ++p)
    for (size_t i = 0; i < ref.w[p].size(); ++i)
      EXPECT_GT(std::fabs(ref.w[p][i] - start.w[p][i]), 0.05) << p << "," << i;
}

}  // namespace
}  // namespace vggtl
