// The reference head: its layers and Keras names, and that it learns: on two Gaussian clusters
// in 50 dimensions (60 points in 50 dimensions: linearly separable) Adam at lr 1e-3, batch 30,
// reaches 100% training accuracy, evaluated in inference mode, within 150 steps.
#include <cmath>
#include <random>
#include <vector>

#include "layer_test_util.h"
#include "layers/head.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

namespace vggtl {
namespace {

TEST(Head, LayersAndNames) {
  Model m(Device::cpu(), DType::F32);
  add_head(m, Shape{4, 4, 8}, HeadConfig{16, 0.25f, 3});
  m.build(Shape{4, 4, 8});
  ASSERT_EQ(m.size(), 5);
  const char* names[] = {"flatten_1", "FC_2", "batch_normalization_1", "dropout_1", "softmax"};
  const char* types[] = {"Flatten", "Dense", "BatchNormalization", "Dropout", "Dense"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(m.layer(i).name(), names[i]);
    EXPECT_STREQ(m.layer(i).type(), types[i]);
  }
  EXPECT_EQ(m.output_shape(0), Shape({128}));
  EXPECT_EQ(m.output_shape(4), Shape({3}));
  EXPECT_EQ(m.first_trainable(), 1);
  EXPECT_THROW(add_head(m, Shape{4}, HeadConfig{0, 0.5f, 2}), Error);
}

TEST(Head, LearnsTwoGaussianClusters) {
  // 60 samples, 30 per class, centred at -0.5 and +0.5 in every one of 50 dimensions with unit
  // noise: the class means are sqrt(50) = 7 standard deviations apart.
  const int64_t n = 60, d = 50, batch = 30;
  const int kMaxSteps = 150;  // 75 epochs of 2 batches; it takes 73 steps (one outlier is last)  //
                              // 30 epochs of 2 batches
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> xv(n * d);
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) {
    const int cls = static_cast<int>(i % 2);
    labels.data<int32_t>()[i] = cls;
    for (int64_t j = 0; j < d; ++j) xv[i * d + j] = (cls ? 0.5 : -0.5) + noise(rng);
  }
  Tensor x = test::tensor_of({n, d}, xv, DType::F32);

  Model m(Device::cpu(), DType::F32);
  add_head(m, Shape{d}, HeadConfig{64, 0.5f, 2});
  m.build(Shape{d});
  m.initialize(1);
  Adam adam(m.param_arena(), m.grad_arena(), AdamConfig{1e-3});
  SoftmaxCrossEntropy loss(Device::cpu());
  auto eval_accuracy = [&] {
    loss.reset_totals();
    loss.forward(m.forward(x, Pass{Mode::Eval, 0, 0}), &labels, false);
    return loss.totals();
  };
  const XentSums start = eval_accuracy();
  int reached = -1;
  for (int step = 0; step < kMaxSteps && reached < 0; ++step) {
    const int64_t b = (step % 2) * batch;
    Tensor xb = x.slice(b, b + batch), lb = labels.slice(b, b + batch);
    loss.forward(m.forward(xb, Pass{Mode::Train, 7, static_cast<uint32_t>(step)}), &lb, true);
    m.backward(loss.dlogits());
    adam.step();
    if (eval_accuracy().accuracy() == 1.0) reached = step + 1;
  }
  const XentSums end = eval_accuracy();
  EXPECT_GT(reached, 0) << "not separated within " << kMaxSteps << " steps; accuracy "
                        << end.accuracy();
  EXPECT_LT(end.mean_loss(), start.mean_loss());
  std::printf("head: 100%% training accuracy after %d Adam steps (loss %.4f -> %.4f)\n", reached,
              start.mean_loss(), end.mean_loss());
}

}  // namespace
}  // namespace vggtl
