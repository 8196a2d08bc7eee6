// One training step of the reference head at batch 30 (7x7x512 features -> Flatten -> Dense 64
// ReLU -> BatchNorm -> Dropout 0.5 -> Dense 2, softmax cross-entropy, Adam) from cached
// features, and one evaluation forward, on the CPU and the GPU.
#include <random>

#include "bench_harness.h"
#include "layers/head.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  auto run = [&](Device d) {
    const Shape features{7, 7, 512};
    Model model(d);
    add_head(model, features, HeadConfig{});
    model.build(features);
    model.initialize(1);
    Adam adam(model.param_arena(), model.grad_arena(), AdamConfig{1e-4});
    SoftmaxCrossEntropy loss(d);
    Tensor hx = Tensor::empty({30, 7, 7, 512}, DType::F32), hl = Tensor::empty({30}, DType::I32);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.f, 3.f);  // post-ReLU base features
    for (int64_t i = 0; i < hx.numel(); ++i) hx.data<float>()[i] = u(rng);
    for (int i = 0; i < 30; ++i) hl.data<int32_t>()[i] = i % 2;
    Tensor x = d.is_cpu() ? hx : to_device(hx, d), labels = d.is_cpu() ? hl : to_device(hl, d);
    uint32_t step = 0;
    double ms = bench::median_ms(
        d,
        [&] {
          loss.forward(model.forward(x, Pass{Mode::Train, 7, step++}), &labels, true);
          model.backward(loss.dlogits());
          adam.step();
        },
        opt);
    // FLOPs of the three big GEMMs (forward, weight gradient; no dx for the first layer).
    bench::report("head train step N30 25088->64->2", d, ms, 0, 2.0 * 2.0 * 30 * 25088 * 64, "",
                  &opt);
    ms = bench::median_ms(
        d,
        [&] {
          loss.forward(model.forward(x, Pass{Mode::Eval, 0, 0}), &labels, false);
        },
        opt);
    bench::report("head eval forward N30", d, ms, 0, 2.0 * 30 * 25088 * 64, "", &opt);
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "head (gpu)")) run(Device::cuda());
  return 0;
}
