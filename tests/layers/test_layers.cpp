// Layer behaviour beyond gradients: Keras initialisers (and the random base's He init), BatchNorm train vs eval and its moving
// statistics (and a frozen BatchNorm), dropout masks per layer and per step, Flatten order,
// the loss's epoch totals, and the Adam / SGD optimizer objects over an arena.
#include <cmath>
#include <vector>

#include "engine/philox.h"
#include "layer_test_util.h"
#include "layers/batch_normalization.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/loss.h"
#include "layers/optimizer.h"
#include "layers/param_init.h"

namespace vggtl {
namespace {

using test::tensor_of;
using test::values_of;

TEST(Layers, GlorotUniformIsKerasAndDeterministic) {
  const int64_t in = 300, out = 50;
  Tensor w = Tensor::empty({in, out}, DType::F64);
  glorot_uniform(w, 7, 3, in, out);
  const double limit = std::sqrt(6.0 / (in + out));
  const std::vector<double> v = values_of(w);
  double mean = 0, sq = 0;
  for (double x : v) {
    ASSERT_GE(x, -limit);
    ASSERT_LT(x, limit);
    mean += x / v.size();
    sq += x * x / v.size();
  }
  // U(-L, L): mean 0 and variance L^2/3; 15,000 draws put both well inside these bounds
  // (standard errors 0.0048 L and 0.0026 L^2).
  EXPECT_NEAR(mean, 0.0, 0.025 * limit);
  EXPECT_NEAR(sq, limit * limit / 3, 0.015 * limit * limit);
  // Element i is -L + 2L * philox_uniform(seed, kRngInit, layer index, i), each drawn alone.
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(v[i], -limit + 2 * limit * philox_uniform(7, kRngInit, 3, i)) << "element " << i;
  // The same draws in f32 (rounded) and from the same (seed, layer); another layer differs.
  Tensor wf = Tensor::empty({in, out}, DType::F32);
  glorot_uniform(wf, 7, 3, in, out);
  EXPECT_EQ(wf.data<float>()[123], static_cast<float>(v[123]));
  Tensor other = Tensor::empty({in, out}, DType::F64);
  glorot_uniform(other, 7, 4, in, out);
  EXPECT_NE(values_of(other)[123], v[123]);
}

// The random VGG16 base (--weights none): He-uniform kernels, L = sqrt(6 / (9 C)), zero bias.
TEST(Layers, Conv2DInitialisesHeUniformKernelAndZeroBias) {
  const int64_t channels = 3, filters = 7;
  Model conv(Device::cpu(), DType::F32);
  conv.add(std::make_unique<Conv2D>("c", channels, filters));
  conv.layer(0).set_frozen(true);  // the base is always frozen
  conv.build({5, 4, channels}, DType::F32);
  conv.initialize(11);
  const std::vector<double> k = values_of(conv.layer(0).params()[0].value);
  ASSERT_EQ(k.size(), static_cast<size_t>(9 * channels * filters));
  const double limit = std::sqrt(6.0 / (9 * channels));
  for (size_t i = 0; i < k.size(); ++i)
    ASSERT_EQ(k[i], static_cast<float>(-limit + 2 * limit * philox_uniform(11, kRngInit, 0, i)))
        << "element " << i;
  for (double b : values_of(conv.layer(0).params()[1].value)) EXPECT_EQ(b, 0.0);
}

TEST(Layers, InitializeGivesKerasDefaults) {
  auto dense = test::one_layer_model(std::make_unique<Dense>("d", 4, 3), {4});
  for (double b : values_of(dense->layer(0).params()[1].value)) EXPECT_EQ(b, 0.0);
  auto bn = test::one_layer_model(std::make_unique<BatchNormalization>("bn", 3), {3});
  const auto& p = bn->layer(0).params();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].name, "gamma");
  EXPECT_EQ(p[3].name, "moving_variance");
  EXPECT_TRUE(p[0].learnable && p[1].learnable && !p[2].learnable && !p[3].learnable);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(values_of(p[0].value)[c], 1.0);
    EXPECT_EQ(values_of(p[1].value)[c], 0.0);
    EXPECT_EQ(values_of(p[2].value)[c], 0.0);
    EXPECT_EQ(values_of(p[3].value)[c], 1.0);
  }
}

TEST(Layers, BatchNormTrainUsesBatchStatsEvalUsesMovingStats) {
  auto model = test::one_layer_model(std::make_unique<BatchNormalization>("bn", 2), {2});
  Layer& bn = model->layer(0);
  // Column 0: {0, 2, 4, 6} mean 3, biased variance 5; column 1: {1, 1, 1, 5} mean 2, variance 3.
  Tensor x = tensor_of({4, 2}, {0, 1, 2, 1, 4, 1, 6, 5});
  Tensor y = Tensor::empty({4, 2}, DType::F64);
  bn.forward(x, y, Pass{Mode::Train, 0, 0});
  const std::vector<double> yt = values_of(y);
  EXPECT_NEAR(yt[0], (0 - 3) / std::sqrt(5 + 1e-3), 1e-14);
  EXPECT_NEAR(yt[7], (5 - 2) / std::sqrt(3 + 1e-3), 1e-14);
  // moving = 0.99 * moving + 0.01 * batch statistic (biased variance).
  EXPECT_NEAR(values_of(bn.params()[2].value)[0], 0.03, 1e-15);
  EXPECT_NEAR(values_of(bn.params()[3].value)[0], 0.99 + 0.05, 1e-15);
  EXPECT_NEAR(values_of(bn.params()[3].value)[1], 0.99 + 0.03, 1e-15);
  // Eval: the moving statistics, and nothing is updated.
  bn.forward(x, y, Pass{Mode::Eval, 0, 0});
  EXPECT_NEAR(values_of(y)[0], (0 - 0.03) / std::sqrt(1.04 + 1e-3), 1e-14);
  EXPECT_NEAR(values_of(bn.params()[2].value)[0], 0.03, 1e-15);
  // Two more training batches: the update compounds.
  bn.forward(x, y, Pass{Mode::Train, 0, 1});
  bn.forward(x, y, Pass{Mode::Train, 0, 2});
  EXPECT_NEAR(values_of(bn.params()[2].value)[0], 3 - 3 * std::pow(0.99, 3), 1e-13);
}

TEST(Layers, FrozenBatchNormRunsInInferenceMode) {
  auto model = test::one_layer_model(std::make_unique<BatchNormalization>("bn", 2), {2});
  Layer& bn = model->layer(0);
  bn.set_frozen(true);
  Tensor x = tensor_of({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor y = Tensor::empty({3, 2}, DType::F64);
  bn.forward(x, y, Pass{Mode::Train, 0, 0});
  EXPECT_NEAR(values_of(y)[4], 5 / std::sqrt(1 + 1e-3), 1e-14);
  EXPECT_EQ(values_of(bn.params()[2].value)[0], 0.0);
}

TEST(Layers, DropoutMasksDifferPerLayerAndStepAndBackwardReusesTheMask) {
  Model model(Device::cpu(), DType::F64);
  model.emplace<Dropout>("a", 0.5f);
  model.emplace<Dropout>("b", 0.5f);
  model.build({64}, DType::F64);
  Tensor x = tensor_of({4, 64}, std::vector<double>(256, 1.0));
  Tensor ya = Tensor::empty({4, 64}, DType::F64), yb = Tensor::empty({4, 64}, DType::F64);
  const Pass pass{Mode::Train, 9, 3};
  model.layer(0).bind(Device::cpu(), 0, true);
  model.layer(1).bind(Device::cpu(), 1, true);
  model.layer(0).forward(x, ya, pass);
  model.layer(1).forward(x, yb, pass);
  int differ = 0;
  for (int64_t i = 0; i < 256; ++i) differ += ya.data<double>()[i] != yb.data<double>()[i];
  EXPECT_GT(differ, 64);  // independent masks at rate 0.5 differ on about 128 of 256
  Tensor dx = Tensor::empty({4, 64}, DType::F64);
  model.layer(0).backward(x, &dx);
  for (int64_t i = 0; i < 256; ++i) EXPECT_EQ(dx.data<double>()[i], ya.data<double>()[i]);
  Tensor y2 = Tensor::empty({4, 64}, DType::F64);
  model.layer(0).forward(x, y2, Pass{Mode::Train, 9, 4});
  differ = 0;
  for (int64_t i = 0; i < 256; ++i) differ += ya.data<double>()[i] != y2.data<double>()[i];
  EXPECT_GT(differ, 64);
  model.layer(0).forward(x, y2, Pass{Mode::Eval, 9, 4});
  for (double v : values_of(y2)) EXPECT_EQ(v, 1.0);
}

TEST(Layers, FlattenKeepsNhwcOrder) {
  auto model = test::one_layer_model(std::make_unique<Flatten>("f"), {2, 2, 3});
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  Tensor x = tensor_of({2, 2, 2, 3}, v);
  Tensor y = Tensor::empty({2, 12}, DType::F64);
  model->layer(0).forward(x, y, Pass{});
  // Keras: (h*W + w)*C + c within a sample, samples in order.
  for (int n = 0; n < 2; ++n)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w)
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(y.data<double>()[n * 12 + (h * 2 + w) * 3 + c],
                    v[((n * 2 + h) * 2 + w) * 3 + c]);
}

TEST(Layers, LossTotalsArePerSampleSumsOverBatches) {
  SoftmaxCrossEntropy loss(Device::cpu());
  loss.reset_totals();
  Tensor labels = Tensor::empty({3}, DType::I32);
  labels.data<int32_t>()[0] = 0;
  labels.data<int32_t>()[1] = 1;
  labels.data<int32_t>()[2] = 1;
  // Batch 1: rows (2, 0) label 0 correct, (0, 0) label 1 tie -> predicted 0, wrong; (0, 3) right.
  loss.forward(tensor_of({3, 2}, {2, 0, 0, 0, 0, 3}, DType::F32), &labels, true);
  const XentSums b1 = loss.batch_sums();
  const double l1 = std::log(1 + std::exp(-2.0)) + std::log(2.0) + std::log(1 + std::exp(-3.0));
  EXPECT_NEAR(b1.loss_sum, l1, 1e-6);
  EXPECT_EQ(b1.correct, 2);
  EXPECT_EQ(b1.count, 3);
  Tensor one = Tensor::empty({1}, DType::I32);
  one.data<int32_t>()[0] = 1;
  loss.forward(tensor_of({1, 2}, {1, 0}, DType::F32), &one, false);
  const XentSums t = loss.totals();
  EXPECT_NEAR(t.loss_sum, l1 + std::log(1 + std::exp(1.0)), 1e-6);
  EXPECT_EQ(t.correct, 2);
  EXPECT_EQ(t.count, 4);
  EXPECT_NEAR(t.mean_loss(), t.loss_sum / 4, 1e-15);
  EXPECT_THROW(loss.dlogits(), Error);  // the last forward asked for no gradient
  loss.reset_totals();
  EXPECT_EQ(loss.totals().count, 0);
  // Prediction only: probabilities and classes, no loss.
  loss.forward(tensor_of({1, 3}, {0, 5, 1}, DType::F32), nullptr, false);
  Tensor pred = test::host_copy(loss.predicted());
  EXPECT_EQ(pred.data<int32_t>()[0], 1);
  EXPECT_EQ(loss.totals().count, 0);
}

TEST(Layers, AdamOverAnArenaCountsStepsAndKeepsState) {
  Tensor w = tensor_of({5}, {1, 2, 3, 4, 5}, DType::F32),
         g = tensor_of({5}, {0.5, -0.5, 0, 1, -1}, DType::F32);
  Adam adam(w, g, AdamConfig{0.1, 0.9, 0.999, 1e-7});
  EXPECT_EQ(adam.iterations(), 0);
  ASSERT_EQ(adam.slots().size(), 2u);
  EXPECT_EQ(adam.slots()[0].first, "m");
  adam.step();
  adam.step();
  EXPECT_EQ(adam.iterations(), 2);
  // Same grads twice: m = (1 - 0.9^2) g, v = (1 - 0.999^2) g^2, alpha_2 = 0.1
  // sqrt(1-0.999^2)/(1-0.9^2), so each step moves by about lr * sign(g).
  const std::vector<double> wv = values_of(w);
  EXPECT_NEAR(wv[0], 1 - 0.2, 1e-5);
  EXPECT_NEAR(wv[1], 2 + 0.2, 1e-5);
  EXPECT_EQ(wv[2], 3.0);  // zero gradient: m = v = 0, no move
  EXPECT_NEAR(values_of(adam.slot("m"))[3], 1 - 0.81, 1e-6);
  EXPECT_NEAR(values_of(adam.slot("v"))[3], 1 - 0.998001, 1e-6);
  // Resume: state restored into a fresh optimizer continues identically.
  Tensor w2 = tensor_of({5}, values_of(w), DType::F32);
  Adam resumed(w2, g, AdamConfig{0.1, 0.9, 0.999, 1e-7});
  copy(resumed.slot("m"), adam.slot("m"));
  copy(resumed.slot("v"), adam.slot("v"));
  resumed.set_iterations(adam.iterations());
  adam.step();
  resumed.step();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(w.data<float>()[i], w2.data<float>()[i]);
  EXPECT_THROW(adam.slot("momentum"), Error);
}

TEST(Layers, SgdSlotsFollowMomentum) {
  Tensor w = tensor_of({2}, {1, 1}, DType::F32), g = tensor_of({2}, {1, -2}, DType::F32);
  Sgd plain(w, g, SgdConfig{0.1, 0.0, false});
  EXPECT_TRUE(plain.slots().empty());
  plain.step();
  EXPECT_NEAR(values_of(w)[0], 0.9, 1e-7);
  EXPECT_NEAR(values_of(w)[1], 1.2, 1e-7);
  Sgd momentum(w, g, SgdConfig{0.1, 0.9, true});
  ASSERT_EQ(momentum.slots().size(), 1u);
  momentum.step();
  EXPECT_NEAR(values_of(momentum.slot("momentum"))[0], -0.1, 1e-7);
  EXPECT_NEAR(values_of(w)[0], 0.9 - 0.1 - 0.09, 1e-6);
}

}  // namespace
}  // namespace vggtl
