// The checkers the other tests trust (test_util.h: relative_error, worst_error, compare with
// within and within_rms; layer_test_util.h: expect_layer_gradients) fail on a NaN or an infinity
// on either side, and pass what is right. test_conv2d.cpp checks its own within_mixed the same way.
#include <gtest/gtest-spi.h>

#include <cmath>
#include <vector>

#include "layer_test_util.h"

namespace vggtl {
namespace {

using test::expect_layer_gradients;
using test::kTrain;
using test::tensor_of;

const double kNan = std::nan("");
const double kBad[] = {kNan, INFINITY, -INFINITY};

TEST(Checkers, RelativeErrorIsInfiniteForNanOrInfinityOnEitherSide) {
  const std::vector<double> right = {0.5, -1.0, 2.0};
  EXPECT_LT(test::relative_error(right, right), 1e-12);
  EXPECT_NEAR(test::relative_error({0.5, -1.0, 2.5}, right), 0.25, 1e-12);
  for (double bad : kBad) {
    std::vector<double> broken = right;
    broken[1] = bad;
    EXPECT_EQ(test::relative_error(right, broken), INFINITY) << bad << " analytic";
    EXPECT_EQ(test::relative_error(broken, right), INFINITY) << bad << " numeric";
    EXPECT_EQ(test::relative_error(broken, broken), INFINITY) << bad << " on both sides";
    // The gradient that std::max once let through: all NaN scored 0.
    EXPECT_EQ(test::relative_error(right, std::vector<double>(3, bad)), INFINITY) << bad;
  }
  EXPECT_EQ(test::relative_error({1.0, 2.0}, right), INFINITY) << "sizes differ";
}

TEST(Checkers, WorstErrorKeepsNanAndInfinity) {
  EXPECT_EQ(test::worst_error(0.5, 0.25), 0.5);
  EXPECT_EQ(test::worst_error(0.25, 0.5), 0.5);
  EXPECT_TRUE(std::isnan(test::worst_error(0.5, NAN)));
  EXPECT_TRUE(std::isnan(test::worst_error(NAN, 0.5)));
  EXPECT_EQ(test::worst_error(0.5, INFINITY), INFINITY);
  double worst = 0;
  for (double e : {0.1, kNan, 0.2}) worst = test::worst_error(worst, e);
  EXPECT_FALSE(worst < 1e-8) << "a NaN in the middle of a worst-error loop must fail the check";
}

TEST(Checkers, WithinAndWithinRmsFailOnNanOrInfinityOnEitherSide) {
  const std::vector<double> want = {0.5, -1.0, 2.0};
  const std::vector<float> good = {0.5f, -1.0f, 2.0f};
  EXPECT_TRUE(test::within(test::compare(good.data(), want.data(), 3), 0.0));
  EXPECT_TRUE(test::within_rms(test::compare(good.data(), want.data(), 3), 3, 1e-9));
  for (double bad : kBad) {
    std::vector<double> got = want, want_bad = want;
    got[1] = bad;
    want_bad[1] = bad;
    const test::Comparison sides[] = {test::compare(got.data(), want.data(), 3),
                                      test::compare(want.data(), want_bad.data(), 3),
                                      test::compare(got.data(), want_bad.data(), 3)};
    for (const test::Comparison& c : sides) {
      EXPECT_EQ(c.nonfinite_count, 1) << bad;
      EXPECT_EQ(c.worst_index, 1) << bad;
      EXPECT_FALSE(test::within(c, 1e30)) << bad;
      EXPECT_FALSE(test::within_rms(c, 3, 1e30)) << bad;
    }
    const std::vector<float> got_f = {0.5f, static_cast<float>(bad), 2.0f};
    EXPECT_FALSE(test::within(test::compare(got_f.data(), want.data(), 3), 1e30)) << bad;
  }
}

// y = a x with one weight a, whose backward writes the right gradients except for one value
// replaced by `bad` (in dx or in da): a layer with a broken gradient, without a Model.
class ScaleWithBadGradient : public Layer {
 public:
  enum class Where { Nowhere, Dx, Weight };
  ScaleWithBadGradient(Where where, double bad) : Layer("scale"), where_(where), bad_(bad) {
    Param a;
    a.name = "a";
    a.shape = Shape{1};
    a.value = tensor_of({1}, {1.5});
    a.grad = tensor_of({1}, {0.0});
    params_.push_back(std::move(a));
  }
  const char* type() const override { return "Scale"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Pass&) override {
    x_ = read_values(x);
    std::vector<double> v = x_;
    for (double& e : v) e *= a();
    write_values(y, v);
  }
  void backward(const Tensor& dy, Tensor* dx) override {
    const std::vector<double> g = read_values(dy);
    std::vector<double> gx(g.size());
    double da = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      gx[i] = a() * g[i];
      da += g[i] * x_[i];
    }
    if (where_ == Where::Dx) gx[g.size() / 2] = bad_;
    if (dx) write_values(*dx, gx);
    write_values(params_[0].grad, {where_ == Where::Weight ? bad_ : da});
  }

 private:
  double a() const { return params_[0].value.data<double>()[0]; }
  Where where_;
  double bad_;
  std::vector<double> x_;
};

Tensor sample_input() { return tensor_of({2, 3}, test::random_doubles(6, 31)); }

TEST(Checkers, LayerGradientCheckPassesARightLayer) {
  ScaleWithBadGradient layer(ScaleWithBadGradient::Where::Nowhere, 0);
  expect_layer_gradients(layer, sample_input(), kTrain);
}

TEST(Checkers, LayerGradientCheckFailsOnNanOrInfinityInDx) {
  for (double bad : kBad) {
    ScaleWithBadGradient layer(ScaleWithBadGradient::Where::Dx, bad);
    EXPECT_NONFATAL_FAILURE(expect_layer_gradients(layer, sample_input(), kTrain), "scale: dx");
  }
}

TEST(Checkers, LayerGradientCheckFailsOnNanOrInfinityInAWeightGradient) {
  for (double bad : kBad) {
    ScaleWithBadGradient layer(ScaleWithBadGradient::Where::Weight, bad);
    EXPECT_NONFATAL_FAILURE(expect_layer_gradients(layer, sample_input(), kTrain), "scale: a");
  }
}

}  // namespace
}  // namespace vggtl
