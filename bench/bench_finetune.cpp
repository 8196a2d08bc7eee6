// One fine-tuning step at block5 at batch 30: block5_conv1..3 (512 -> 512, 3x3, trainable) and
// block5_pool on 14x14x512 inputs (block4_pool's output at 224x224), then the reference head
// (Flatten -> Dense 64 ReLU -> BatchNorm -> Dropout 0.5 -> Dense 2), softmax cross-entropy and
// Adam; on the CPU and the GPU. The PyTorch peer is bench/peers/torch_finetune.py (same line
// name; bench/peers/ratios.py divides the two). Defaults to 1 warm-up and 5 repetitions: a CPU
// step does ~225 GFLOP. On a CPU with bf16 (kernels/cpu_backend.h) the step again with the convs
// in bf16 (mixed precision, f32 master weights and Adam), its line noting the largest loss
// difference from the fp32 run over the same steps (same weights, data and dropout masks),
// absolute and over (1 + |fp32|).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/cpu_backend.h"

#include "bench_harness.h"
#include "layers/conv2d.h"
#include "layers/head.h"
#include "layers/loss.h"
#include "layers/maxpool2d.h"
#include "layers/optimizer.h"

using namespace vggtl;

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  opt.warmup = 1;
  bool reps_given = false;
  for (int i = 1; i < argc; ++i) reps_given |= std::string(argv[i]) == "--reps";
  if (!reps_given) opt.reps = opt.quick ? 3 : 5;
  const int64_t n = 30;
  std::vector<double> fp32_losses;
  // Returns the loss of every step run (warm-up included).
  auto run = [&](Device d, Precision precision) {
    Model model(d);
    for (int k = 1; k <= 3; ++k)
      model.emplace<Conv2D>("block5_conv" + std::to_string(k), 512, 512, precision);
    model.emplace<MaxPool2D>("block5_pool");
    add_head(model, Shape{7, 7, 512}, HeadConfig{});
    model.build(Shape{14, 14, 512});
    model.initialize(1);
    Adam adam(model.param_arena(), model.grad_arena(), AdamConfig{1e-5});
    SoftmaxCrossEntropy loss(d);
    Tensor hx = Tensor::empty({n, 14, 14, 512}, DType::F32), hl = Tensor::empty({n}, DType::I32);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.f, 3.f);  // post-ReLU block4 features
    for (int64_t i = 0; i < hx.numel(); ++i) hx.data<float>()[i] = u(rng);
    for (int i = 0; i < n; ++i) hl.data<int32_t>()[i] = i % 2;
    Tensor x = d.is_cpu() ? hx : to_device(hx, d), labels = d.is_cpu() ? hl : to_device(hl, d);
    uint32_t step = 0;
    std::vector<double> losses;
    const double ms = bench::median_ms(
        d,
        [&] {
          loss.forward(model.forward(x, Pass{Mode::Train, 7, step++}), &labels, true);
          losses.push_back(loss.batch_sums().mean_loss());
          model.backward(loss.dlogits());
          adam.step();
        },
        opt);
    // Convolution FLOPs: three forwards, three weight gradients, two data gradients (none below
    // block5_conv1); the head's are under 0.1% of them.
    const double conv = 2.0 * 9 * static_cast<double>(n * 14 * 14) * 512 * 512;
    std::string note;
    if (precision == Precision::BF16 && !fp32_losses.empty()) {
      double worst = 0, worst_rel = 0;
      for (size_t i = 0; i < losses.size() && i < fp32_losses.size(); ++i) {
        const double d = std::fabs(losses[i] - fp32_losses[i]);
        worst = std::max(worst, d);
        worst_rel = std::max(worst_rel, d / (1 + std::fabs(fp32_losses[i])));
      }
      char buf[128];
      std::snprintf(buf, sizeof buf, "loss within %.1e (%.1e relative) of fp32's %.3f..%.3f over %zu steps", worst,
                    worst_rel, *std::min_element(fp32_losses.begin(), fp32_losses.end()),
                    *std::max_element(fp32_losses.begin(), fp32_losses.end()), losses.size());
      note = buf;
    }
    bench::report(std::string("finetune block5 step N30 14x14x512") + (precision == Precision::BF16 ? " bf16" : ""),
                  d, ms, 0, 8 * conv, note, &opt);
    return losses;
  };
  if (opt.cpu) {
    fp32_losses = run(Device::cpu(), Precision::FP32);
    if (cpu_has_bf16()) run(Device::cpu(), Precision::BF16);
    else std::printf("finetune block5 bf16 (cpu): skipped: %s\n", cpu_bf16_unsupported_reason().c_str());
  }
  if (!bench::skip_gpu(opt, "finetune block5 (gpu)")) run(Device::cuda(), Precision::FP32);
  return 0;
}
