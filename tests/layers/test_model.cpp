// Model (autograd-lite): range and feature-cache forwards equal the full forward; rebuilding
// after a freeze keeps values; frozen layers own no gradients and do not change; backward stops
// at the first trainable layer; a steady training loop allocates nothing; bf16 producers are
// converted for the f32 head; the reference head's counts and Keras-order weights.
#include <cmath>
#include <regex>
#include <vector>

#include "engine/allocator.h"
#include "kernels/convert.h"
#include "layer_test_util.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/head.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

namespace vggtl {
namespace {

using test::tensor_of;
using test::values_of;

// A frozen stand-in for a base layer: has a weight, copies its input, and must never be asked
// for a backward pass.
class NoBackwardLayer : public Layer {
 public:
  NoBackwardLayer(std::string name, int64_t features) : Layer(std::move(name)) {
    params_.push_back(Param{"kernel", Shape{features}, true, {}, {}});
    frozen_ = true;
  }
  const char* type() const override { return "NoBackward"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& x, Tensor& y, const Pass&) override { copy(y, x); }
  void backward(const Tensor&, Tensor*) override {
    throw Error("backward reached a layer before the first trainable one");
  }
};

// Dense that records how backward was called.
class SpyDense : public Dense {
 public:
  using Dense::Dense;
  void backward(const Tensor& dy, Tensor* dx) override {
    ++calls;
    got_dx = dx != nullptr;
    Dense::backward(dy, dx);
  }
  int calls = 0;
  bool got_dx = false;
};

// Stands in for a bf16 base: y = bf16(x); backward converts dy back to f32.
class Bf16Layer : public Layer {
 public:
  explicit Bf16Layer(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Bf16"; }
  Shape output_shape(const Shape& in) const override { return in; }
  DType input_dtype(DType) const override { return DType::F32; }
  DType output_dtype(DType) const override { return DType::BF16; }
  void forward(const Tensor& x, Tensor& y, const Pass&) override { convert(y, x); }
  void backward(const Tensor& dy, Tensor* dx) override {
    if (dx) convert(*dx, dy);
  }
};

// Computes in bf16 only once bound at its place in a model: stands in for a Conv2D, whose
// output dtype depends on the device it is bound to (bf16 on a GPU only).
class BindingDependentLayer : public Bf16Layer {
 public:
  using Bf16Layer::Bf16Layer;
  DType output_dtype(DType in) const override { return index() == 1 ? DType::BF16 : in; }
};

// Flatten -> frozen Dense "base_fc" (the stand-in base) -> the reference head on 10 features.
std::unique_ptr<Model> small_transfer_model(uint64_t seed) {
  auto m = std::make_unique<Model>(Device::cpu(), DType::F32);
  m->emplace<Flatten>("base_flatten");
  m->emplace<Dense>("base_fc", 24, 10, Activation::ReLU).set_frozen(true);
  add_head(*m, Shape{10}, HeadConfig{8, 0.5f, 3});
  m->build(Shape{2, 3, 4});
  m->initialize(seed);
  return m;
}

Tensor labels_for(int64_t n, int k) {
  Tensor t = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) t.data<int32_t>()[i] = static_cast<int32_t>((i * 7 + 1) % k);
  return t;
}

Tensor owned_copy(const Tensor& t) {
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy(c, t);
  return c;
}

void expect_same(const Tensor& a, const Tensor& b, const char* what) {
  const std::vector<double> av = values_of(a), bv = values_of(b);
  ASSERT_EQ(av.size(), bv.size()) << what;
  for (size_t i = 0; i < av.size(); ++i) ASSERT_EQ(av[i], bv[i]) << what << " at " << i;
}

TEST(Model, RangeForwardEqualsFullForward) {
  auto m = small_transfer_model(1);
  const int k = m->index_of("flatten_1");
  ASSERT_EQ(k, 2);
  ASSERT_EQ(m->first_trainable(), 3);
  Tensor x = tensor_of({6, 2, 3, 4}, test::random_doubles(144, 2), DType::F32);
  for (Mode mode : {Mode::Eval, Mode::Train}) {
    const Pass pass{mode, 5, 1};
    Tensor full = owned_copy(m->forward(x, pass));
    // Base once into a cache the caller owns, then the head from the cache.
    Tensor cache = owned_copy(m->forward(x, pass, 0, k));
    expect_same(m->forward(cache, pass, k), full, "head from a cache");
    // Chained without a copy: the intermediate lives in the model's own buffers.
    Tensor mid = m->forward(x, pass, 0, k);
    expect_same(m->forward(mid, pass, k), full, "head from the model's buffer");
    // Three pieces.
    Tensor a = owned_copy(m->forward(x, pass, 0, 1));
    Tensor b = owned_copy(m->forward(a, pass, 1, 4));
    expect_same(m->forward(b, pass, 4, -1), full, "three ranges");
  }
}

TEST(Model, FeatureCacheTrainingEqualsFullTraining) {
  auto full = small_transfer_model(3), cached = small_transfer_model(3);
  const int k = cached->index_of("flatten_1");
  Adam opt_full(full->param_arena(), full->grad_arena(), AdamConfig{0.01});
  Adam opt_cached(cached->param_arena(), cached->grad_arena(), AdamConfig{0.01});
  SoftmaxCrossEntropy loss_full(Device::cpu()), loss_cached(Device::cpu());
  Tensor x = tensor_of({9, 2, 3, 4}, test::random_doubles(216, 4), DType::F32);
  Tensor labels = labels_for(9, 3);
  Tensor features = owned_copy(cached->forward(x, Pass{Mode::Eval, 0, 0}, 0, k));  // once
  for (uint32_t step = 0; step < 3; ++step) {
    const Pass pass{Mode::Train, 11, step};
    loss_full.forward(full->forward(x, pass), &labels, true);
    full->backward(loss_full.dlogits());
    loss_cached.forward(cached->forward(features, pass, k), &labels, true);
    cached->backward(loss_cached.dlogits());
    expect_same(cached->grad_arena(), full->grad_arena(), "gradients");
    opt_full.step();
    opt_cached.step();
  }
  expect_same(cached->param_arena(), full->param_arena(), "weights after three steps");
  expect_same(cached->param("batch_normalization_1", "moving_mean").value,
              full->param("batch_normalization_1", "moving_mean").value, "moving mean");
}

TEST(Model, RangeInitialisationDrawsWhatFullInitialisationDraws) {
  auto full = small_transfer_model(5);
  auto part = std::make_unique<Model>(Device::cpu(), DType::F32);
  part->emplace<Flatten>("base_flatten");
  part->emplace<Dense>("base_fc", 24, 10, Activation::ReLU).set_frozen(true);
  add_head(*part, Shape{10}, HeadConfig{8, 0.5f, 3});
  part->build(Shape{2, 3, 4});
  Param& untouched = part->param("base_fc", "kernel");
  for (int64_t i = 0; i < untouched.value.numel(); ++i) untouched.value.data<float>()[i] = 0.25f;
  part->initialize(5, 2);  // the head only
  EXPECT_EQ(untouched.value.data<float>()[7], 0.25f);
  for (const char* layer : {"FC_2", "softmax"}) {
    const Tensor& a = full->param(layer, "kernel").value;
    const Tensor& b = part->param(layer, "kernel").value;
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << layer << " " << i;
  }
  EXPECT_THROW(part->initialize(5, 3, 2), Error);
}

TEST(Model, LayersAreBoundBeforeTheirDtypesAreAsked) {
  Model m(Device::cpu(), DType::F32);
  m.emplace<Flatten>("flat");
  m.emplace<BindingDependentLayer>("to_bf16");
  m.emplace<Dense>("fc", 6, 2, Activation::None);
  m.build(Shape{2, 3});
  EXPECT_EQ(m.output_dtype(1), DType::BF16);
  m.initialize(1);
  Tensor x = Tensor::empty({4, 2, 3}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.25f * static_cast<float>(i % 5);
  const Tensor y = m.forward(x, Pass{});
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(y.shape(), (Shape{4, 2}));
}

TEST(Model, RebuildAfterFreezingKeepsValues) {
  auto m = small_transfer_model(5);
  Adam opt(m->param_arena(), m->grad_arena(), AdamConfig{0.05});
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor x = tensor_of({4, 2, 3, 4}, test::random_doubles(96, 6), DType::F32);
  Tensor labels = labels_for(4, 3);
  for (uint32_t s = 0; s < 2; ++s) {
    loss.forward(m->forward(x, Pass{Mode::Train, 1, s}), &labels, true);
    m->backward(loss.dlogits());
    opt.step();
  }
  auto snapshot = [&] {
    std::vector<std::vector<double>> v;
    for (auto& np : m->params_by_layer()) v.push_back(values_of(np.param->value));
    return v;
  };
  const auto before = snapshot();
  const int64_t trainable = m->trainable_count();
  m->layer(m->index_of("FC_2")).set_frozen(true);
  m->build(Shape{2, 3, 4});
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(m->trainable_count(), trainable - (10 * 8 + 8));
  EXPECT_EQ(m->first_trainable(), m->index_of("batch_normalization_1"));
  EXPECT_FALSE(m->param("FC_2", "kernel").trainable());
  m->layer(m->index_of("FC_2")).set_frozen(false);
  m->layer(m->index_of("base_fc")).set_frozen(false);  // "fine-tuning" the base: a flag
  m->build(Shape{2, 3, 4});
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(m->trainable_count(), trainable + 24 * 10 + 10);
  EXPECT_EQ(m->first_trainable(), 1);
  // And it trains through the unfrozen base.
  Adam opt2(m->param_arena(), m->grad_arena(), AdamConfig{0.05});
  loss.forward(m->forward(x, Pass{Mode::Train, 1, 2}), &labels, true);
  m->backward(loss.dlogits());
  double norm = 0;
  for (double g : values_of(m->param("base_fc", "kernel").grad)) norm += g * g;
  EXPECT_GT(norm, 0.0);
}

TEST(Model, FrozenLayersHaveNoGradientsAndDoNotChange) {
  auto m = small_transfer_model(7);
  m->layer(m->index_of("FC_2")).set_frozen(true);
  m->build(Shape{2, 3, 4});
  const int bn = m->index_of("batch_normalization_1");
  ASSERT_EQ(m->first_trainable(), bn);
  for (int i = 0; i < m->size(); ++i) {
    EXPECT_EQ(m->layer(i).keep_for_backward(), i >= bn) << m->layer(i).name();
    if (i >= bn) continue;
    for (const Param& p : m->layer(i).params())
      EXPECT_FALSE(p.grad.defined()) << m->layer(i).name();
  }
  const std::vector<double> fc2 = values_of(m->param("FC_2", "kernel").value);
  const std::vector<double> base = values_of(m->param("base_fc", "kernel").value);
  const std::vector<double> gamma = values_of(m->param("batch_normalization_1", "gamma").value);
  Adam opt(m->param_arena(), m->grad_arena(), AdamConfig{0.1});
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor x = tensor_of({5, 2, 3, 4}, test::random_doubles(120, 8), DType::F32);
  Tensor labels = labels_for(5, 3);
  loss.forward(m->forward(x, Pass{Mode::Train, 2, 0}), &labels, true);
  m->backward(loss.dlogits());
  opt.step();
  EXPECT_EQ(values_of(m->param("FC_2", "kernel").value), fc2);
  EXPECT_EQ(values_of(m->param("base_fc", "kernel").value), base);
  EXPECT_NE(values_of(m->param("batch_normalization_1", "gamma").value), gamma);
}

TEST(Model, BackwardStopsAtTheFirstTrainableLayer) {
  Model m(Device::cpu(), DType::F64);
  m.emplace<NoBackwardLayer>("base", 6);
  auto& first = m.emplace<SpyDense>("fc", 6, 5, Activation::ReLU);
  auto& middle = m.emplace<SpyDense>("frozen_mid", 5, 4);
  middle.set_frozen(true);
  m.emplace<Dense>("out", 4, 3);
  m.build(Shape{6}, DType::F64);
  m.initialize(9);
  ASSERT_EQ(m.first_trainable(), 1);
  EXPECT_FALSE(m.layer(0).keep_for_backward());
  EXPECT_FALSE(m.param("frozen_mid", "kernel").grad.defined());
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor labels = labels_for(4, 3);
  loss.forward(m.forward(tensor_of({4, 6}, test::random_doubles(24, 10)), Pass{Mode::Train, 0, 0}),
               &labels, true);
  EXPECT_NO_THROW(m.backward(loss.dlogits()));  // "base" would throw if reached
  EXPECT_EQ(first.calls, 1);
  EXPECT_FALSE(first.got_dx);  // the first trainable layer computes no dx
  EXPECT_EQ(middle.calls, 1);
  EXPECT_TRUE(middle.got_dx);  // a frozen layer after it passes the gradient through
  // A forward that starts after the first trainable layer cannot be differentiated.
  m.forward(tensor_of({4, 5}, test::random_doubles(20, 11)), Pass{Mode::Train, 0, 0}, 2);
  EXPECT_THROW(m.backward(loss.dlogits()), Error);
}

TEST(Model, SteadyTrainingLoopAllocatesNothing) {
  Model m(Device::cpu(), DType::F32);
  add_head(m, Shape{50}, HeadConfig{64, 0.5f, 2});
  m.build(Shape{50});
  m.initialize(1);
  Adam opt(m.param_arena(), m.grad_arena(), AdamConfig{1e-3});
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor x = tensor_of({30, 50}, test::random_doubles(1500, 12), DType::F32);
  Tensor labels = labels_for(30, 2);
  Tensor x_last = x.slice(0, 7), labels_last = labels.slice(0, 7);
  uint32_t step = 0;
  auto train = [&](const Tensor& xb, const Tensor& lb) {
    loss.forward(m.forward(xb, Pass{Mode::Train, 3, step}), &lb, true);
    m.backward(loss.dlogits());
    opt.step();
    ++step;
  };
  const AllocatorStats cold = host_allocator().stats();
  train(x, labels);
  EXPECT_GT(host_allocator().stats().requests, cold.requests);  // the counter does see the loop
  train(x, labels);
  const AllocatorStats before = host_allocator().stats();
  for (int i = 0; i < 3; ++i) train(x, labels);
  train(x_last, labels_last);  // a smaller last batch runs on views
  m.forward(x, Pass{Mode::Eval, 3, step});
  EXPECT_EQ(host_allocator().stats().requests, before.requests);
}

TEST(Model, Bf16ProducerIsConvertedForTheF32Head) {
  const std::vector<double> xv = test::random_doubles(5 * 6, 13, -3, 3);
  Model with_base(Device::cpu(), DType::F32);
  with_base.emplace<Bf16Layer>("to_bf16");
  add_head(with_base, Shape{6}, HeadConfig{4, 0.5f, 2});
  with_base.build(Shape{6});
  with_base.initialize(4);
  EXPECT_EQ(with_base.output_dtype(0), DType::BF16);
  Model head_only(Device::cpu(), DType::F32);
  add_head(head_only, Shape{6}, HeadConfig{4, 0.5f, 2});
  head_only.build(Shape{6});
  head_only.initialize(4);  // same layer indices shifted by one: copy the weights instead
  for (auto& np : head_only.params_by_layer())
    copy(np.param->value, with_base.param(np.layer->name(), np.param->name).value);
  Tensor x = tensor_of({5, 6}, xv, DType::F32);
  Tensor xb = Tensor::empty({5, 6}, DType::BF16), xr = Tensor::empty({5, 6}, DType::F32);
  convert(xb, x);
  convert(xr, xb);  // what the head sees: the bf16-rounded input
  const Pass pass{Mode::Eval, 0, 0};
  Tensor out = with_base.forward(x, pass);
  EXPECT_EQ(out.dtype(), DType::F32);
  expect_same(out, head_only.forward(xr, pass), "logits");
  // Bf16 features from a cache enter the head directly.
  expect_same(with_base.forward(xb, pass, 1), head_only.forward(xr, pass), "from bf16 features");
  // A model ending in bf16 still returns f32.
  Model ends_bf16(Device::cpu(), DType::F32);
  ends_bf16.emplace<Bf16Layer>("to_bf16");
  ends_bf16.build(Shape{6});
  Tensor y = ends_bf16.forward(x, pass);
  EXPECT_EQ(y.dtype(), DType::F32);
  expect_same(y, xr, "final conversion");
}

TEST(Model, GradientsFlowBackThroughBf16Conversions) {
  // Dense (trainable) -> bf16 -> Flatten -> Dense: backward converts the gradient to bf16 where
  // the forward converted the activations, and the first layer still gets its gradient.
  Model m(Device::cpu(), DType::F32);
  m.emplace<Dense>("a", 6, 5);
  m.emplace<Bf16Layer>("to_bf16");
  m.emplace<Flatten>("f");
  m.emplace<Dense>("b", 5, 3);
  m.build(Shape{6});
  m.initialize(6);
  Model ref(Device::cpu(), DType::F32);
  ref.emplace<Dense>("a", 6, 5);
  ref.emplace<Flatten>("f");
  ref.emplace<Dense>("b", 5, 3);
  ref.build(Shape{6});
  for (auto& np : ref.params_by_layer())
    copy(np.param->value, m.param(np.layer->name(), np.param->name).value);
  SoftmaxCrossEntropy loss(Device::cpu());
  Tensor x = tensor_of({4, 6}, test::random_doubles(24, 14), DType::F32);
  Tensor labels = labels_for(4, 3);
  loss.forward(m.forward(x, Pass{Mode::Train, 0, 0}), &labels, true);
  m.backward(loss.dlogits());
  loss.forward(ref.forward(x, Pass{Mode::Train, 0, 0}), &labels, true);
  ref.backward(loss.dlogits());
  const std::vector<double> g = values_of(m.param("a", "kernel").grad),
                            gr = values_of(ref.param("a", "kernel").grad);
  // bf16 activations and gradients: 8 significant bits, errors of about 1% of the values.
  EXPECT_TRUE(test::within_rms(test::compare(g.data(), gr.data(), 30), 30, 5e-2));
}

TEST(Model, ReferenceHeadCountsSummaryAndKerasOrder) {
  Model m(Device::cpu(), DType::F32);
  add_head(m, Shape{7, 7, 512}, HeadConfig{});
  m.build(Shape{7, 7, 512});
  EXPECT_EQ(m.trainable_count(), 1605954);  // spec: the reference job's trainable parameters
  EXPECT_EQ(m.param_count(), 1605954 + 128);
  const std::string s = m.summary();
  EXPECT_NE(s.find("flatten_1 (Flatten)"), std::string::npos) << s;
  EXPECT_NE(s.find("(None, 25088)"), std::string::npos) << s;
  EXPECT_NE(s.find("FC_2 (Dense)"), std::string::npos) << s;
  EXPECT_NE(s.find("1,605,696"), std::string::npos) << s;
  EXPECT_NE(s.find("Trainable params: 1,605,954"), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 128"), std::string::npos) << s;
  // The widest row still separates its columns.
  EXPECT_TRUE(std::regex_search(s, std::regex("batch_normalization_1 \\(BatchNormalization\\) +\\(None, 64\\) +256\n")))
      << s;
  std::vector<std::string> names;
  for (auto& np : m.params_by_layer()) {
    names.push_back(np.layer->name() + "/" + np.param->name);
    if (np.param->trainable()) {
      EXPECT_EQ(np.arena_offset % 64, 0);
      EXPECT_EQ(np.param->value.raw(),
                m.param_arena().view(np.arena_offset, np.param->shape).raw());
    } else {
      EXPECT_EQ(np.arena_offset, -1);
    }
  }
  const std::vector<std::string> want = {"FC_2/kernel",
                                         "FC_2/bias",
                                         "batch_normalization_1/gamma",
                                         "batch_normalization_1/beta",
                                         "batch_normalization_1/moving_mean",
                                         "batch_normalization_1/moving_variance",
                                         "softmax/kernel",
                                         "softmax/bias"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(m.param("FC_2", "kernel").shape, Shape({25088, 64}));
  EXPECT_THROW(m.param("FC_2", "gamma"), Error);
  EXPECT_THROW(m.forward(Tensor::zeros({2, 7, 7, 256}, DType::F32), Pass{}), Error);
}

}  // namespace
}  // namespace vggtl
