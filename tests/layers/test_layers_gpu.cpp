// The head on the GPU against the same head on the CPU: each layer's forward, dx and weight
// gradients, dropout masks bit for bit, and whole training steps (loss, gradients, Adam and SGD
// updates), plus run-to-run reproducibility on the GPU. Tolerances are stated per comparison.
#include <cmath>
#include <vector>

#include "engine/allocator.h"
#include "layer_test_util.h"
#include "layers/batch_normalization.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/head.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

namespace vggtl {
namespace {

using test::values_of;

const Device kGpu = Device::cuda();

::testing::AssertionResult close_rms(const Tensor& gpu, const Tensor& cpu, double rel) {
  const std::vector<double> g = values_of(gpu), c = values_of(cpu);
  if (g.size() != c.size()) return ::testing::AssertionFailure() << "sizes differ";
  return test::within_rms(test::compare(g.data(), c.data(), static_cast<int64_t>(c.size())),
                          static_cast<int64_t>(c.size()), rel);
}

// One layer on both devices with the same weights; forward and backward on the same data.
void compare_layer(std::unique_ptr<Layer> cpu_layer, std::unique_ptr<Layer> gpu_layer,
                   const Shape& sample, int64_t batch, const Pass& pass, double rel) {
  Model mc(Device::cpu()), mg(kGpu);
  mc.add(std::move(cpu_layer));
  mg.add(std::move(gpu_layer));
  mc.build(sample);
  mg.build(sample);
  mc.initialize(3);
  mg.initialize(3);
  mc.layer(0).bind(Device::cpu(), 0, true);
  mg.layer(0).bind(kGpu, 0, true);
  for (size_t i = 0; i < mc.layer(0).params().size(); ++i) {
    const std::vector<double> v =
        test::random_doubles(mc.layer(0).params()[i].value.numel(), 50 + i, 0.5, 1.5);
    write_values(mc.layer(0).params()[i].value, v);
    write_values(mg.layer(0).params()[i].value, v);
  }
  const Shape xs = with_batch(sample, batch);
  Tensor x = test::tensor_of(xs, test::random_doubles(xs.numel(), 60, -2, 2), DType::F32);
  Tensor gx = to_device(x, kGpu);
  const Shape ys = mc.layer(0).output_shape(xs);
  Tensor y = Tensor::empty(ys, DType::F32), gy = test::poisoned(ys, DType::F32, kGpu);
  mc.layer(0).forward(x, y, pass);
  mg.layer(0).forward(gx, gy, pass);
  EXPECT_TRUE(close_rms(gy, y, rel)) << mc.layer(0).name() << " y";
  Tensor dy = test::tensor_of(ys, test::random_doubles(ys.numel(), 61), DType::F32),
         gdy = to_device(dy, kGpu);
  Tensor dx = Tensor::empty(xs, DType::F32), gdx = test::poisoned(xs, DType::F32, kGpu);
  mc.layer(0).backward(dy, &dx);
  mg.layer(0).backward(gdy, &gdx);
  EXPECT_TRUE(close_rms(gdx, dx, rel)) << mc.layer(0).name() << " dx";
  for (size_t i = 0; i < mc.layer(0).params().size(); ++i) {
    const Param& pc = mc.layer(0).params()[i];
    const Param& pg = mg.layer(0).params()[i];
    if (pc.trainable()) {
      EXPECT_TRUE(close_rms(pg.grad, pc.grad, rel)) << mc.layer(0).name() << " " << pc.name;
    }
    EXPECT_TRUE(close_rms(pg.value, pc.value, rel))
        << mc.layer(0).name() << " " << pc.name << " value";
  }
}

TEST(LayersGpu, EachLayerMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const Pass train{Mode::Train, 77, 3}, eval{Mode::Eval, 77, 3};
  for (int64_t batch : {int64_t{1}, int64_t{7}, int64_t{30}}) {
    // fp32 GEMMs with k = 517 in different orders: ~1e-6 of the RMS.
    compare_layer(std::make_unique<Dense>("d", 517, 64, Activation::ReLU),
                  std::make_unique<Dense>("d", 517, 64, Activation::ReLU), {517}, batch, train,
                  1e-5);
    compare_layer(std::make_unique<Dense>("d", 64, 3), std::make_unique<Dense>("d", 64, 3), {64},
                  batch, train, 1e-5);
    if (batch > 1)  // batch statistics of one row are degenerate (variance 0): eval only
      compare_layer(std::make_unique<BatchNormalization>("bn", 65),
                    std::make_unique<BatchNormalization>("bn", 65), {65}, batch, train, 1e-5);
    compare_layer(std::make_unique<BatchNormalization>("bn", 65),
                  std::make_unique<BatchNormalization>("bn", 65), {65}, batch, eval, 1e-6);
    // Dropout: the same mask, the same multiplications: exact.
    compare_layer(std::make_unique<Dropout>("drop", 0.5f), std::make_unique<Dropout>("drop", 0.5f),
                  {67}, batch, train, 0.0);
  }
}

struct HeadRun {
  Model model;
  SoftmaxCrossEntropy loss;
  std::unique_ptr<Optimizer> opt;
  Tensor x, labels;
  HeadRun(Device device, bool adam, const std::vector<double>& xv, const Shape& xs)
      : model(device), loss(device) {
    add_head(model, without_batch(xs), HeadConfig{64, 0.5f, 2});
    model.build(without_batch(xs));
    model.initialize(11);
    if (adam) {
      opt = std::make_unique<Adam>(model.param_arena(), model.grad_arena(), AdamConfig{1e-3});
    } else {
      opt = std::make_unique<Sgd>(model.param_arena(), model.grad_arena(),
                                  SgdConfig{0.01, 0.9, true});
    }
    x = to_device(test::tensor_of(xs, xv, DType::F32), device);
    Tensor l = Tensor::empty({xs[0]}, DType::I32);
    for (int64_t i = 0; i < xs[0]; ++i) l.data<int32_t>()[i] = static_cast<int32_t>(i % 2);
    labels = to_device(l, device);
  }
  void step(uint32_t s) {
    loss.forward(model.forward(x, Pass{Mode::Train, 5, s}), &labels, true);
    model.backward(loss.dlogits());
    opt->step();
  }
};

TEST(HeadGpu, TrainingStepsMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const Shape xs{30, 2, 2, 130};
  const std::vector<double> xv = test::random_doubles(xs.numel(), 70, -1, 1);
  for (bool adam : {true, false}) {
    HeadRun cpu(Device::cpu(), adam, xv, xs), gpu(kGpu, adam, xv, xs);
    for (uint32_t s = 0; s < 3; ++s) {
      cpu.step(s);
      gpu.step(s);
      // fp32 on both, summation orders differ: losses to 1e-5 relative, gradients to 1e-4 of
      // their RMS; weights to 1e-4 of their RMS (6e-6 here, against steps of lr = 1e-3: Adam
      // turns a near-zero gradient's rounding noise into steps of up to ~1e-6).
      EXPECT_NEAR(gpu.loss.batch_sums().mean_loss(), cpu.loss.batch_sums().mean_loss(),
                  1e-5 * cpu.loss.batch_sums().mean_loss());
      EXPECT_EQ(gpu.loss.batch_sums().correct, cpu.loss.batch_sums().correct);
      EXPECT_TRUE(close_rms(gpu.model.grad_arena(), cpu.model.grad_arena(), 1e-4)) << "step " << s;
      EXPECT_TRUE(close_rms(gpu.model.param_arena(), cpu.model.param_arena(), 1e-4))
          << "step " << s;
    }
    EXPECT_TRUE(close_rms(gpu.model.param("batch_normalization_1", "moving_variance").value,
                          cpu.model.param("batch_normalization_1", "moving_variance").value, 1e-5));
    EXPECT_NEAR(gpu.loss.totals().loss_sum, cpu.loss.totals().loss_sum, 1e-4);
  }
}

TEST(HeadGpu, TrainingIsReproducibleBitForBit) {
  REQUIRE_CUDA_DEVICE();
  const Shape xs{30, 7, 7, 512};  // the reference job's shapes
  const std::vector<double> xv = test::random_doubles(xs.numel(), 71, 0, 3);
  HeadRun a(kGpu, true, xv, xs), b(kGpu, true, xv, xs);
  for (uint32_t s = 0; s < 3; ++s) {
    a.step(s);
    b.step(s);
  }
  const std::vector<double> pa = values_of(a.model.param_arena()),
                            pb = values_of(b.model.param_arena());
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(a.loss.totals().loss_sum, b.loss.totals().loss_sum);
}

TEST(HeadGpu, SteadyTrainingLoopAllocatesNothing) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  const Shape xs{30, 7, 7, 512};
  HeadRun run(kGpu, true, test::random_doubles(xs.numel(), 72, 0, 3), xs);
  run.step(0);
  run.step(1);
  synchronize(kGpu);
  const size_t before = cuda_allocator(0).stats().requests;
  for (uint32_t s = 2; s < 6; ++s) run.step(s);
  Tensor last = run.x.slice(0, 7), last_labels = run.labels.slice(0, 7);
  run.loss.forward(run.model.forward(last, Pass{Mode::Train, 5, 6}), &last_labels, true);
  run.model.backward(run.loss.dlogits());
  run.opt->step();
  synchronize(kGpu);
  EXPECT_EQ(cuda_allocator(0).stats().requests, before);
#endif
}

}  // namespace
}  // namespace vggtl
