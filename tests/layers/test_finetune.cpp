// Fine-tuning through the base: Conv2D and MaxPool2D gradients against central differences in
// double (each layer, then frozen conv -> trainable conv -> pool -> flatten -> dense through the
// model with a softmax cross-entropy loss, and with the frozen conv above the trainable one); the
// frozen conv below gets no backward call and owns no gradients; the f32 layers (oneDNN) against the f64 ones (oracle); a trainable conv sees the
// weights an optimizer step wrote; VGG16 with block5 trainable trains on the CPU; in bf16 on the CPU
// (where it has bf16) gradients and loss histories follow fp32's; GPU against CPU (Gpu suite).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu_backend.h"
#include "layer_test_util.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/loss.h"
#include "layers/maxpool2d.h"
#include "layers/optimizer.h"
#include "layers/vgg16.h"

namespace vggtl {
namespace {

using test::kTrain;
using test::tensor_of;
using test::values_of;


// Conv2D that counts its backward calls.
class SpyConv : public Conv2D {
 public:
  using Conv2D::Conv2D;
  void backward(const Tensor& dy, Tensor* dx) override {
    ++calls;
    got_dx = dx != nullptr;
    Conv2D::backward(dy, dx);
  }
  int calls = 0;
  bool got_dx = false;
};

// Smallest |pre-activation| of a conv layer on x: the distance from the ReLU kink, which central
// differences must not cross.
double kink_margin(const Tensor& x, Conv2D& conv) {
  const Conv2dShape s{x.dim(0), x.dim(1), x.dim(2), conv.in_channels(), conv.filters()};
  const std::vector<double> xv = values_of(x), w = values_of(conv.params()[0].value),
                            b = values_of(conv.params()[1].value);
  std::vector<double> z(static_cast<size_t>(s.n * s.h * s.w * s.k));
  conv2d_3x3_ref_cpu(z.data(), xv.data(), w.data(), b.data(), s, false);
  double margin = 1e30;
  for (double v : z) margin = std::min(margin, std::fabs(v));
  return margin;
}

TEST(FineTune, Conv2DLayerGradientsInDouble) {
  auto model = test::one_layer_model(std::make_unique<Conv2D>("conv", 3, 5, Precision::FP32), {5, 7, 3});
  auto& conv = static_cast<Conv2D&>(model->layer(0));
  write_values(conv.params()[1].value, test::random_doubles(5, 3, -0.3, 0.3));
  for (int64_t n : {1, 2, 3}) {
    Tensor x = tensor_of({n, 5, 7, 3}, test::random_doubles(static_cast<size_t>(n * 105), 10 + n, -2, 2));
    ASSERT_GT(kink_margin(x, conv), 1e-4) << "pick another seed: a pre-activation sits on the kink";
    test::expect_layer_gradients(conv, x, kTrain);
  }
}

TEST(FineTune, MaxPool2DLayerGradientsInDouble) {
  auto model = test::one_layer_model(std::make_unique<MaxPool2D>("pool"), {5, 7, 3});
  // Distinct values (no ties within a window), so the loss is smooth at x.
  std::vector<double> v = test::random_doubles(2 * 105, 20, -2, 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] += 1e-2 * static_cast<double>(i % 89);
  test::expect_layer_gradients(model->layer(0), tensor_of({2, 5, 7, 3}, v), kTrain);
}

// frozen conv (3 -> 4) -> trainable conv (4 -> 5) -> pool -> flatten -> dense (3 classes), on
// 5x7 images; with `frozen_above`, the frozen conv comes second instead (trainable 3 -> 4, frozen
// 4 -> 5), so that the gradient passes through a frozen conv's dx to a trainable one.
std::unique_ptr<Model> small_model(DType dtype, Device device = Device::cpu(), bool frozen_above = false) {
  auto m = std::make_unique<Model>(device, dtype);
  m->emplace<SpyConv>("frozen_conv", 3, 4, Precision::FP32).set_frozen(!frozen_above);
  m->emplace<SpyConv>("conv", 4, 5, Precision::FP32).set_frozen(frozen_above);
  m->emplace<MaxPool2D>("pool");
  m->emplace<Flatten>("flatten");
  m->emplace<Dense>("dense", 2 * 3 * 5, 3);
  m->build(Shape{5, 7, 3}, dtype);
  m->initialize(31);
  write_values(m->param("conv", "bias").value, test::random_doubles(5, 32, -0.2, 0.2));
  write_values(m->param("frozen_conv", "bias").value, test::random_doubles(4, 33, -0.2, 0.2));
  for (int i = 0; i < 2; ++i) m->layer(i).params_changed();
  return m;
}

Tensor labels_for(int64_t n) {
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int64_t r = 0; r < n; ++r) labels.data<int32_t>()[r] = static_cast<int32_t>((r * 2) % 3);
  return labels;
}

// The model's mean cross-entropy on n images from `seed`: both convs away from their ReLU kinks
// and no ties in the pool (random doubles have none); every trainable weight's gradient against
// central differences in double, after the model's trainable count is checked.
void expect_model_gradients(Model& m, int64_t n, uint64_t seed, int64_t trainable) {
  Tensor x = tensor_of({n, 5, 7, 3}, test::random_doubles(static_cast<size_t>(n * 105), seed, -2, 2));
  {
    Tensor h = Tensor::empty({n, 5, 7, 4}, DType::F64);
    m.layer(0).forward(x, h, kTrain);
    ASSERT_GT(kink_margin(x, static_cast<Conv2D&>(m.layer(0))), 1e-4);
    ASSERT_GT(kink_margin(h, static_cast<Conv2D&>(m.layer(1))), 1e-4);
  }
  Tensor labels = labels_for(n);
  SoftmaxCrossEntropy loss(Device::cpu());
  auto mean_loss = [&] {
    loss.forward(m.forward(x, kTrain), &labels, false);
    return loss.batch_sums().mean_loss();
  };
  loss.forward(m.forward(x, kTrain), &labels, true);
  m.backward(loss.dlogits());
  const std::vector<double> analytic = values_of(m.grad_arena());
  ASSERT_EQ(m.trainable_count(), trainable);
  const std::vector<double> numeric =
      test::numeric_gradient(m.param_arena().data<double>(), m.param_arena().numel(), mean_loss);
  EXPECT_LT(test::relative_error(numeric, analytic), 1e-6);
}

TEST(FineTune, ConvPoolDenseThroughTheModelInDouble) {
  auto m = small_model(DType::F64);
  ASSERT_EQ(m->first_trainable(), 1);
  ASSERT_NO_FATAL_FAILURE(expect_model_gradients(*m, 3, 34, 9 * 4 * 5 + 5 + 30 * 3 + 3));
  // The frozen conv below: no backward call, no gradients, nothing kept.
  auto& frozen = static_cast<SpyConv&>(m->layer(0));
  auto& conv = static_cast<SpyConv&>(m->layer(1));
  EXPECT_EQ(frozen.calls, 0);
  EXPECT_FALSE(frozen.keep_for_backward());
  for (const Param& p : frozen.params()) EXPECT_FALSE(p.trainable()) << p.name;
  EXPECT_EQ(conv.calls, 1);
  EXPECT_FALSE(conv.got_dx) << "the first trainable layer computes no dx";
}

// Trainable conv -> frozen conv -> pool -> ...: the frozen conv computes dx (through its ReLU
// mask) but no weight gradient; checked end to end in double.
TEST(FineTune, GradientPassesThroughAFrozenConvAbove) {
  auto m = small_model(DType::F64, Device::cpu(), true);
  ASSERT_EQ(m->first_trainable(), 0);
  ASSERT_NO_FATAL_FAILURE(expect_model_gradients(*m, 2, 40, 9 * 3 * 4 + 4 + 30 * 3 + 3));
  auto& above = static_cast<SpyConv&>(m->layer(1));
  EXPECT_EQ(above.calls, 1);
  EXPECT_TRUE(above.got_dx);
  for (const Param& p : above.params()) EXPECT_FALSE(p.trainable()) << p.name;
}

// The same model in f32 (oneDNN forward and backward) and in f64 (the oracle), same weights and
// input: the gradients agree within 1e-5 of their RMS (f32 sums of at most a few hundred terms).
void expect_float_matches_double(bool frozen_above) {
  auto md = small_model(DType::F64, Device::cpu(), frozen_above);
  auto mf = small_model(DType::F32, Device::cpu(), frozen_above);
  write_values(md->param_arena(), values_of(mf->param_arena()));  // the f32-rounded weights
  for (const char* layer : {"frozen_conv", "conv"})
    for (const char* name : {"kernel", "bias"})
      write_values(md->param(layer, name).value, values_of(mf->param(layer, name).value));
  for (int i = 0; i < 2; ++i) md->layer(i).params_changed();
  const int64_t n = 3;
  const std::vector<double> xv =
      values_of(tensor_of({n, 5, 7, 3}, test::random_doubles(n * 105, 35, -2, 2), DType::F32));
  Tensor xd = tensor_of({n, 5, 7, 3}, xv), xf = tensor_of({n, 5, 7, 3}, xv, DType::F32);
  Tensor labels = labels_for(n);
  SoftmaxCrossEntropy ld(Device::cpu()), lf(Device::cpu());
  ld.forward(md->forward(xd, kTrain), &labels, true);
  md->backward(ld.dlogits());
  lf.forward(mf->forward(xf, kTrain), &labels, true);
  mf->backward(lf.dlogits());
  const std::vector<double> gd = values_of(md->grad_arena()), gf = values_of(mf->grad_arena());
  const int64_t count = static_cast<int64_t>(gd.size());
  EXPECT_TRUE(test::within_rms(test::compare(gf.data(), gd.data(), count), count, 1e-5))
      << (frozen_above ? "frozen conv above" : "frozen conv below");
}

TEST(FineTune, FloatModelMatchesDoubleModel) {
  expect_float_matches_double(false);
  expect_float_matches_double(true);  // through oneDNN's backward-data
}

// An optimizer writes the weights in place: the next forward of a trainable conv must use them
// (the oneDNN reorder of the old values is not reused).
TEST(FineTune, TrainableConvSeesUpdatedWeights) {
  auto m = small_model(DType::F32);
  Tensor x = tensor_of({2, 5, 7, 3}, test::random_doubles(210, 36, -2, 2), DType::F32);
  const std::vector<double> before = values_of(m->forward(x, kTrain));
  Param& kernel = m->param("conv", "kernel");
  std::vector<double> w = values_of(kernel.value);
  for (double& v : w) v *= 1.5;
  write_values(kernel.value, w);
  const std::vector<double> after = values_of(m->forward(x, kTrain));
  m->layer(1).params_changed();
  const std::vector<double> fresh = values_of(m->forward(x, kTrain));
  EXPECT_NE(before, after);
  EXPECT_EQ(after, fresh);
}

// VGG16 at 32x32 with block5's convs trainable and a dense head: forward, backward and an Adam
// step on the CPU; the gradients reach block5_conv1 and stop there.
TEST(FineTune, Vgg16Block5TrainsOnTheCpu) {
  Vgg16Options opt;
  opt.image_size = 32;
  opt.precision = Precision::FP32;
  opt.trainable = {"block5_conv1", "block5_conv2", "block5_conv3"};
  Model m(Device::cpu());
  for (auto& l : make_vgg16_base(opt)) m.add(std::move(l));
  m.emplace<Flatten>("flatten");
  m.emplace<Dense>("dense", 512, 2);
  m.build(Shape{32, 32, 3});
  m.initialize(37);
  ASSERT_EQ(m.first_trainable(), m.index_of("block5_conv1"));
  EXPECT_EQ(m.trainable_count(), 3 * 2359808 + 512 * 2 + 2);
  const int64_t n = 2;
  Tensor x = tensor_of({n, 32, 32, 3}, test::random_doubles(n * 32 * 32 * 3, 38, 0, 100), DType::F32);
  Tensor labels = labels_for(n);
  labels.data<int32_t>()[1] = 1;
  SoftmaxCrossEntropy loss(Device::cpu());
  Adam adam(m.param_arena(), m.grad_arena(), AdamConfig{});
  loss.forward(m.forward(x, kTrain), &labels, true);
  const double first = loss.batch_sums().mean_loss();
  m.backward(loss.dlogits());
  double norm = 0;
  bool finite = true;
  for (double g : values_of(m.param("block5_conv1", "kernel").grad)) {
    norm += g * g;
    finite &= std::isfinite(g);
  }
  EXPECT_TRUE(finite);
  EXPECT_GT(norm, 0.0) << "no gradient reached block5_conv1";
  adam.step();
  loss.forward(m.forward(x, kTrain), &labels, false);
  EXPECT_NE(loss.batch_sums().mean_loss(), first);
}

// ---- bf16 on the CPU (mixed precision: bf16 activations and gradients, f32 master weights) ----

Tensor bf16_tensor(const Shape& shape, const std::vector<double>& v) {
  Tensor t = Tensor::empty(shape, DType::BF16);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<bf16>()[i] = float_to_bf16(static_cast<float>(v[static_cast<size_t>(i)]));
  return t;
}

std::vector<double> widened(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = bf16_to_float(t.data<bf16>()[i]);
  return v;
}

// The layer's bf16 backward against the double oracle on the same bf16 operands (x, dy, the
// weights rounded to bf16) and the layer's own ReLU mask (its bf16 y > 0): dx within its own
// rounding to bf16 (2^-8 of each value) plus 1e-5 of the largest; dw (f32 accumulation of exact
// bf16 products) and db (the same bf16 values summed in double) within 1e-5 of the largest; all
// gradients f32. At awkward sizes: odd H and W, C = 13, K = 24.
TEST(FineTune, Conv2DLayerBf16BackwardMatchesOracleOnItsOwnMask) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason();
  const Conv2dShape s{3, 7, 9, 13, 24};
  auto model = test::one_layer_model(std::make_unique<Conv2D>("conv", s.c, s.k, Precision::BF16), {s.h, s.w, s.c},
                                        DType::F32);
  auto& conv = static_cast<Conv2D&>(model->layer(0));
  write_values(conv.params()[1].value, test::random_doubles(static_cast<size_t>(s.k), 60, -0.3, 0.3));
  conv.params_changed();
  Tensor x = bf16_tensor({s.n, s.h, s.w, s.c}, test::random_doubles(static_cast<size_t>(s.n * s.h * s.w * s.c), 61));
  Tensor dy = bf16_tensor({s.n, s.h, s.w, s.k}, test::random_doubles(static_cast<size_t>(s.n * s.h * s.w * s.k), 62));
  Tensor y = Tensor::empty({s.n, s.h, s.w, s.k}, DType::BF16), dx = Tensor::empty(x.shape(), DType::BF16);
  std::memset(dx.raw(), 0xff, dx.nbytes());  // NaN
  conv.forward(x, y, kTrain);
  conv.backward(dy, &dx);
  ASSERT_EQ(conv.params()[0].grad.dtype(), DType::F32);
  std::vector<double> w = values_of(conv.params()[0].value);
  for (double& v : w) v = bf16_to_float(float_to_bf16(static_cast<float>(v)));
  const std::vector<double> xv = widened(x), yv = widened(y);
  std::vector<double> dz = widened(dy);
  for (size_t i = 0; i < dz.size(); ++i) dz[i] = yv[i] > 0 ? dz[i] : 0.0;
  std::vector<double> want_dx(xv.size()), want_dw(w.size()), want_db(static_cast<size_t>(s.k));
  conv2d_3x3_backward_ref_cpu(want_dx.data(), want_dw.data(), want_db.data(), dz.data(), xv.data(), w.data(), s);
  auto expect_close = [](const std::vector<double>& got, const std::vector<double>& want, double own,
                         const char* what) {
    double top = 0, excess = 0;
    for (double v : want) top = std::max(top, std::abs(v));
    ASSERT_GT(top, 0.0) << what;
    for (size_t i = 0; i < got.size(); ++i)
      excess = test::worst_error(excess, std::abs(got[i] - want[i]) - (own * std::abs(want[i]) + 1e-5 * top));
    EXPECT_LE(excess, 0.0) << what;
  };
  expect_close(widened(dx), want_dx, std::ldexp(1.0, -8), "dx");
  expect_close(values_of(conv.params()[0].grad), want_dw, 0.0, "dw");
  expect_close(values_of(conv.params()[1].grad), want_db, 0.0, "db");
}

// frozen conv (3 -> 8) -> trainable conv (8 -> 16) -> pool -> trainable conv (16 -> 16) -> pool ->
// flatten -> dense (3 classes) on 12x14 images, its convs in `precision`: the gradient crosses the
// head's f32 -> bf16 boundary, two bf16 pools and a bf16 conv's dx.
std::unique_ptr<Model> two_conv_model(Precision precision, bool pools = true) {
  auto m = std::make_unique<Model>(Device::cpu());
  m->emplace<Conv2D>("frozen_conv", 3, 8, precision).set_frozen(true);
  m->emplace<Conv2D>("conv_a", 8, 16, precision);
  if (pools) m->emplace<MaxPool2D>("pool_a");
  m->emplace<Conv2D>("conv_b", 16, 16, precision);
  if (pools) m->emplace<MaxPool2D>("pool_b");
  m->emplace<Flatten>("flatten");
  m->emplace<Dense>("dense", pools ? 3 * 3 * 16 : 12 * 14 * 16, 3);
  m->build(Shape{12, 14, 3});
  m->initialize(41);
  return m;
}

// 30 Adam steps (lr 1e-3) on 4 fixed batches from the same weights: the bf16 loss history within
// the 2e-2 of the fp32 one at every step; the weights, their gradients and the optimizer
// stay f32 (the arena's dtype). The first step's gradients of each trainable weight within 2e-1
// of the f32 ones in relative L2 (||g16 - g32|| / ||g32||; a wiring error gives ~1): not the 1e-2
// of the features, since a conv's gradient here sums terms of both signs that largely cancel,
// while the few pre-activations within bf16's rounding of zero flip their ReLU mask and the few
// pool windows whose values round to a tie move their gradient, each such term counting whole.
// Measured: conv_a 9.9e-2 (kernel) and 8.0e-2 (bias), conv_b 4.2e-2 and 3.3e-2, dense 4.5e-3; the
// fp32 model fed the same input rounded to bf16 (nothing else changed) already moves conv_a's by
// 4.8e-2 and 3.3e-2. The layer itself is exact against the oracle on its own mask (above).
TEST(FineTune, Bf16ConvPoolConvTrainingFollowsFp32) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason();
  auto m32 = two_conv_model(Precision::FP32), m16 = two_conv_model(Precision::BF16);
  ASSERT_EQ(m16->param_arena().dtype(), DType::F32);
  ASSERT_EQ(m16->output_dtype(m16->index_of("pool_b")), DType::BF16);
  ASSERT_EQ(values_of(m32->param_arena()), values_of(m16->param_arena()));
  const int64_t n = 6;
  std::vector<Tensor> xs;
  for (uint64_t b = 0; b < 4; ++b)
    xs.push_back(tensor_of({n, 12, 14, 3}, test::random_doubles(n * 12 * 14 * 3, 50 + b, -1, 2), DType::F32));
  Tensor labels = labels_for(n);
  SoftmaxCrossEntropy l32(Device::cpu()), l16(Device::cpu());
  Adam a32(m32->param_arena(), m32->grad_arena(), AdamConfig{}),
      a16(m16->param_arena(), m16->grad_arena(), AdamConfig{});
  double worst_loss = 0;
  for (int step = 0; step < 30; ++step) {
    const Tensor& x = xs[static_cast<size_t>(step % 4)];
    l32.forward(m32->forward(x, kTrain), &labels, true);
    l16.forward(m16->forward(x, kTrain), &labels, true);
    const double loss32 = l32.batch_sums().mean_loss(), loss16 = l16.batch_sums().mean_loss();
    ASSERT_TRUE(std::isfinite(loss16)) << "step " << step;
    worst_loss = test::worst_error(worst_loss, std::abs(loss16 - loss32));
    EXPECT_LE(std::abs(loss16 - loss32), 2e-2) << "step " << step << ": bf16 " << loss16 << ", fp32 " << loss32;
    m32->backward(l32.dlogits());
    m16->backward(l16.dlogits());
    if (step == 0) {
      for (const char* layer : {"conv_a", "conv_b", "dense"})
        for (const char* name : {"kernel", "bias"}) {
          const std::vector<double> g32 = values_of(m32->param(layer, name).grad),
                                    g16 = values_of(m16->param(layer, name).grad);
          double err = 0, diff2 = 0, norm2 = 0;
          for (size_t i = 0; i < g32.size(); ++i) {
            err = test::worst_error(err, std::abs(g16[i] - g32[i]));
            diff2 += (g16[i] - g32[i]) * (g16[i] - g32[i]);
            norm2 += g32[i] * g32[i];
          }
          ASSERT_GT(norm2, 0.0) << layer << "/" << name << ": no gradient";
          const double rel = std::sqrt(diff2 / norm2);
          EXPECT_LE(rel, 2e-1) << layer << "/" << name;
          std::printf("bf16 first-step gradient %s/%s: relative L2 %.2e, max error %.2e of the largest\n", layer,
                      name, rel, err / test::max_abs(g32));
        }
    }
    a32.step();
    a16.step();
  }
  std::printf("bf16 loss history over 30 steps: max |bf16 - fp32| %.2e\n", worst_loss);
}

// VGG16 at 32x32 with block5 trainable in bf16 (block5_pool between the last conv and the head),
// random base, inputs in [0, 1): three Adam steps (lr 1e-4) follow the fp32 model's losses within
// 2e-2 (|difference| / (1 + |fp32|)); gradients reach block5_conv1.
TEST(FineTune, Vgg16Block5TrainsInBf16OnTheCpu) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason();
  auto vgg = [](Precision p) {
    Vgg16Options opt;
    opt.image_size = 32;
    opt.precision = p;
    opt.trainable = {"block5_conv1", "block5_conv2", "block5_conv3"};
    auto m = std::make_unique<Model>(Device::cpu());
    for (auto& l : make_vgg16_base(opt)) m->add(std::move(l));
    m->emplace<Flatten>("flatten");
    m->emplace<Dense>("dense", 512, 2);
    m->build(Shape{32, 32, 3});
    m->initialize(37);
    return m;
  };
  auto m32 = vgg(Precision::FP32), m16 = vgg(Precision::BF16);
  const int64_t n = 4;
  Tensor x = tensor_of({n, 32, 32, 3}, test::random_doubles(n * 32 * 32 * 3, 38, 0, 1), DType::F32);
  Tensor labels = labels_for(n);
  labels.data<int32_t>()[1] = 1;
  SoftmaxCrossEntropy l32(Device::cpu()), l16(Device::cpu());
  Adam a32(m32->param_arena(), m32->grad_arena(), AdamConfig{1e-4}),
      a16(m16->param_arena(), m16->grad_arena(), AdamConfig{1e-4});
  for (int step = 0; step < 3; ++step) {
    l32.forward(m32->forward(x, kTrain), &labels, true);
    l16.forward(m16->forward(x, kTrain), &labels, true);
    const double loss32 = l32.batch_sums().mean_loss(), loss16 = l16.batch_sums().mean_loss();
    EXPECT_LE(std::abs(loss16 - loss32) / (1 + std::abs(loss32)), 2e-2)
        << "step " << step << ": bf16 " << loss16 << ", fp32 " << loss32;
    std::printf("VGG16 block5 bf16 step %d: loss %.6f, fp32 %.6f\n", step, loss16, loss32);
    m32->backward(l32.dlogits());
    m16->backward(l16.dlogits());
    double norm = 0;
    for (double g : values_of(m16->param("block5_conv1", "kernel").grad)) norm += g * g;
    EXPECT_TRUE(std::isfinite(norm) && norm > 0) << "step " << step << ": block5_conv1's gradient " << norm;
    a32.step();
    a16.step();
  }
}

TEST(FineTuneGpu, ConvPoolDenseGradientsMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  for (bool frozen_above : {false, true}) {  // true: through cuDNN's backward-data too
    auto mc = small_model(DType::F32, Device::cpu(), frozen_above);
    auto mg = small_model(DType::F32, Device::cuda(), frozen_above);
    write_values(mg->param_arena(), values_of(mc->param_arena()));
    for (const char* layer : {"frozen_conv", "conv"})
      for (const char* name : {"kernel", "bias"})
        write_values(mg->param(layer, name).value, values_of(mc->param(layer, name).value));
    for (int i = 0; i < 2; ++i) mg->layer(i).params_changed();
    const int64_t n = 3;
    Tensor xc = tensor_of({n, 5, 7, 3}, test::random_doubles(n * 105, 39, -2, 2), DType::F32);
    Tensor xg = to_device(xc, Device::cuda());
    Tensor labels = labels_for(n);
    Tensor labels_g = to_device(labels, Device::cuda());
    SoftmaxCrossEntropy lc(Device::cpu()), lg(Device::cuda());
    lc.forward(mc->forward(xc, kTrain), &labels, true);
    mc->backward(lc.dlogits());
    lg.forward(mg->forward(xg, kTrain), &labels_g, true);
    mg->backward(lg.dlogits());
    const std::vector<double> gc = values_of(mc->grad_arena()), gg = values_of(mg->grad_arena());
    const int64_t count = static_cast<int64_t>(gc.size());
    // fp32 on both sides (the layers are built FP32: cuDNN FMA math, no TF32): 1e-5 of RMS.
    EXPECT_TRUE(test::within_rms(test::compare(gg.data(), gc.data(), count), count, 1e-5))
        << (frozen_above ? "frozen conv above" : "frozen conv below");
  }
}

}  // namespace
}  // namespace vggtl
