// Numerical gradient checks in double on the CPU (central differences, 1e-6 relative) for every
// layer and the loss, then the whole reference head through the model; and each layer in float
// against the same layer in double.
#include <cmath>
#include <vector>

#include "layer_test_util.h"
#include "layers/activation.h"
#include "layers/batch_normalization.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/head.h"
#include "layers/loss.h"

namespace vggtl {
namespace {

using test::expect_layer_gradients;
using test::kTrain;
using test::tensor_of;
using test::values_of;

const Pass kEval{Mode::Eval, 1234, 7};

// Smallest |x W + b| over the batch: the distance of the pre-activations from the ReLU kink.
double kink_margin(const Tensor& x, Dense& d) {
  const std::vector<double> xv = values_of(x), w = values_of(d.params()[0].value),
                            b = values_of(d.params()[1].value);
  const int64_t n = x.dim(0), in = d.in_features(), out = d.units();
  double margin = 1e30;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      double z = b[c];
      for (int64_t k = 0; k < in; ++k) z += xv[r * in + k] * w[k * out + c];
      margin = std::min(margin, std::fabs(z));
    }
  }
  return margin;
}

TEST(GradCheck, Dense) {
  auto model = test::one_layer_model(std::make_unique<Dense>("d", 7, 4), {7});
  // A non-zero bias so that its gradient path is exercised with real values.
  write_values(model->layer(0).params()[1].value, test::random_doubles(4, 3));
  expect_layer_gradients(model->layer(0), tensor_of({5, 7}, test::random_doubles(35, 1)), kTrain);
}

TEST(GradCheck, DenseWithRelu) {
  auto model = test::one_layer_model(std::make_unique<Dense>("d", 6, 5, Activation::ReLU), {6});
  auto& d = static_cast<Dense&>(model->layer(0));
  write_values(d.params()[1].value, test::random_doubles(5, 4, -0.3, 0.3));
  Tensor x = tensor_of({4, 6}, test::random_doubles(24, 2));
  ASSERT_GT(kink_margin(x, d), 1e-3) << "pick another seed: a pre-activation sits on the kink";
  expect_layer_gradients(d, x, kTrain);
}

TEST(GradCheck, ReLU) {
  auto model = test::one_layer_model(std::make_unique<ReLU>("r"), {3, 4});
  expect_layer_gradients(model->layer(0), tensor_of({2, 3, 4}, test::away_from_zero(24, 5)),
                         kTrain);
}

TEST(GradCheck, BatchNormalizationTrain) {
  auto model = test::one_layer_model(std::make_unique<BatchNormalization>("bn", 3), {3});
  Layer& bn = model->layer(0);
  write_values(bn.params()[0].value, test::random_doubles(3, 6, 0.5, 2.0));
  write_values(bn.params()[1].value, test::random_doubles(3, 7));
  expect_layer_gradients(bn, tensor_of({6, 3}, test::random_doubles(18, 8, -2, 2)), kTrain);
}

TEST(GradCheck, BatchNormalizationEval) {
  auto model = test::one_layer_model(std::make_unique<BatchNormalization>("bn", 4), {4});
  Layer& bn = model->layer(0);
  write_values(bn.params()[0].value, test::random_doubles(4, 9, 0.5, 2.0));
  write_values(bn.params()[2].value, test::random_doubles(4, 10));
  write_values(bn.params()[3].value, test::random_doubles(4, 11, 0.5, 2.0));
  expect_layer_gradients(bn, tensor_of({5, 4}, test::random_doubles(20, 12)), kEval);
}

TEST(GradCheck, DropoutWithFixedMask) {
  auto model = test::one_layer_model(std::make_unique<Dropout>("drop", 0.4f), {10});
  Tensor x = tensor_of({3, 10}, test::random_doubles(30, 13));
  expect_layer_gradients(model->layer(0), x, kTrain);
  // The check means something only if the mask both keeps and drops.
  Tensor y = Tensor::empty({3, 10}, DType::F64);
  model->layer(0).forward(x, y, kTrain);
  int zeros = 0;
  for (double v : values_of(y)) zeros += v == 0.0;
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, 30);
}

TEST(GradCheck, Flatten) {
  auto model = test::one_layer_model(std::make_unique<Flatten>("f"), {3, 2, 2});
  expect_layer_gradients(model->layer(0), tensor_of({2, 3, 2, 2}, test::random_doubles(24, 14)),
                         kTrain);
}

TEST(GradCheck, SoftmaxCrossEntropy) {
  const int64_t n = 5, k = 3;
  std::vector<double> z = test::random_doubles(n * k, 15, -2, 2);
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int64_t r = 0; r < n; ++r) labels.data<int32_t>()[r] = static_cast<int32_t>(r % k);
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor logits = tensor_of({n, k}, z);
  auto mean_loss = [&] {
    loss.forward(logits, &labels, false);
    return loss.batch_sums().mean_loss();
  };
  loss.forward(logits, &labels, true);
  const std::vector<double> analytic = values_of(loss.dlogits());
  const std::vector<double> numeric =
      test::numeric_gradient(logits.data<double>(), n * k, mean_loss);
  EXPECT_LT(test::relative_error(numeric, analytic), 1e-6);
}

// The reference head end to end (Flatten, Dense+ReLU, BatchNorm, Dropout, Dense, loss) in
// training mode: the gradient of the batch-mean loss for every trainable weight in the arena.
TEST(GradCheck, WholeHeadThroughTheModel) {
  Model model(Device::cpu(), DType::F64);
  add_head(model, Shape{2, 3}, HeadConfig{5, 0.3f, 3});
  model.build(Shape{2, 3}, DType::F64);
  model.initialize(21);
  write_values(model.param("FC_2", "bias").value, test::random_doubles(5, 22, -0.2, 0.2));
  write_values(model.param("batch_normalization_1", "beta").value, test::random_doubles(5, 23));
  const int64_t n = 6;
  Tensor x = tensor_of({n, 2, 3}, test::random_doubles(n * 6, 24, -2, 2));
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int64_t r = 0; r < n; ++r) labels.data<int32_t>()[r] = static_cast<int32_t>((r * 2) % 3);
  ASSERT_GT(kink_margin(x.reshape({n, 6}), static_cast<Dense&>(model.layer(1))), 1e-3);
  SoftmaxCrossEntropy loss(Device::cpu());
  auto mean_loss = [&] {
    loss.forward(model.forward(x, kTrain), &labels, false);
    return loss.batch_sums().mean_loss();
  };
  loss.forward(model.forward(x, kTrain), &labels, true);
  model.backward(loss.dlogits());
  const std::vector<double> analytic = values_of(model.grad_arena());
  ASSERT_EQ(model.trainable_count(), 6 * 5 + 5 + 5 + 5 + 5 * 3 + 3);
  const std::vector<double> numeric = test::numeric_gradient(
      model.param_arena().data<double>(), model.param_arena().numel(), mean_loss);
  EXPECT_LT(test::relative_error(numeric, analytic), 1e-6);
}

// Each layer in float against the same layer, with the same weights, in double.
void expect_float_matches_double(std::unique_ptr<Layer> f32_layer, std::unique_ptr<Layer> f64_layer,
                                 const Shape& sample, const Pass& pass, double tol) {
  auto mf = test::one_layer_model(std::move(f32_layer), sample, DType::F32);
  auto md = test::one_layer_model(std::move(f64_layer), sample, DType::F64);
  Layer& lf = mf->layer(0);
  Layer& ld = md->layer(0);
  for (size_t i = 0; i < lf.params().size(); ++i) {
    const std::vector<double> v =
        test::random_doubles(lf.params()[i].value.numel(), 30 + i, 0.5, 1.5);
    write_values(lf.params()[i].value, v);
    write_values(ld.params()[i].value,
                 values_of(lf.params()[i].value));  // the float-rounded values
  }
  const Shape xs = with_batch(sample, 9);
  const std::vector<double> xv =
      values_of(tensor_of(xs, test::random_doubles(xs.numel(), 40), DType::F32));
  Tensor xf = tensor_of(xs, xv, DType::F32), xd = tensor_of(xs, xv);
  const Shape ys = lf.output_shape(xs);
  Tensor yf = Tensor::empty(ys, DType::F32), yd = Tensor::empty(ys, DType::F64);
  lf.forward(xf, yf, pass);
  ld.forward(xd, yd, pass);
  const std::vector<double> dyv =
      values_of(tensor_of(ys, test::random_doubles(ys.numel(), 41), DType::F32));
  Tensor dyf = tensor_of(ys, dyv, DType::F32), dyd = tensor_of(ys, dyv);
  Tensor dxf = Tensor::empty(xs, DType::F32), dxd = Tensor::empty(xs, DType::F64);
  lf.backward(dyf, &dxf);
  ld.backward(dyd, &dxd);
  auto check = [&](const Tensor& a, const Tensor& b, const char* what) {
    const std::vector<double> av = values_of(a), bv = values_of(b);
    EXPECT_TRUE(test::within_rms(test::compare(av.data(), bv.data(), a.numel()), a.numel(), tol))
        << lf.name() << " " << what;
  };
  check(yf, yd, "y");
  check(dxf, dxd, "dx");
  for (size_t i = 0; i < lf.params().size(); ++i)
    if (lf.params()[i].trainable())
      check(lf.params()[i].grad, ld.params()[i].grad, lf.params()[i].name.c_str());
}

TEST(GradCheck, FloatMatchesDouble) {
  // fp32 against fp64 with identical inputs and weights: relative to the RMS of the values.
  expect_float_matches_double(std::make_unique<Dense>("d", 33, 7, Activation::ReLU),
                              std::make_unique<Dense>("d", 33, 7, Activation::ReLU), {33}, kTrain,
                              1e-5);
  expect_float_matches_double(std::make_unique<BatchNormalization>("bn", 5),
                              std::make_unique<BatchNormalization>("bn", 5), {5}, kTrain, 1e-5);
  expect_float_matches_double(std::make_unique<Dropout>("drop", 0.5f),
                              std::make_unique<Dropout>("drop", 0.5f), {11}, kTrain, 1e-7);
  expect_float_matches_double(std::make_unique<ReLU>("r"), std::make_unique<ReLU>("r"), {4}, kTrain,
                              1e-7);
}

}  // namespace
}  // namespace vggtl
