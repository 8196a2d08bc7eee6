// The whole VGG16 base at 224x224 (random He weights): images/s per precision, GPU at batch 1,
// 30 and 256, CPU (fp32) at batch 1 and 30. Lines are named like bench/peers/torch_vgg16.py's, so
// a script can divide the two ("vgg16 base <precision> N<batch> 224x224 | <device> | ...").
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/cpu_backend.h"
#include "layers/sequential.h"
#include "layers/vgg16.h"

using namespace vggtl;

namespace {

// 2 * 9 * H * W * C * K summed over the 13 convolutions: 30.7 GFLOP per 224x224 image.
double base_flops_per_image(const std::vector<std::unique_ptr<Layer>>& layers, int64_t size) {
  double flops = 0;
  Shape s{1, size, size, 3};
  for (const auto& l : layers) {
    const Shape out = l->output_shape(s);
    if (!l->params().empty()) flops += 2.0 * 9.0 * static_cast<double>(s[1] * s[2] * s[3] * out[3]);
    s = out;
  }
  return flops;
}

std::string img_per_s(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f img/s", v);
  return buf;
}

void run(Device dev, Precision p, int64_t batch, const bench::Options& opt) {
  Vgg16Options vo;
  vo.precision = p;
  auto layers = make_vgg16_base(vo);
  std::vector<Layer*> chain;
  for (auto& l : layers) chain.push_back(l.get());
  bind_standalone(chain, dev);
  for (auto& l : layers) l->initialize(1);
  Tensor xh = Tensor::empty({batch, 224, 224, 3}, DType::F32);
  for (int64_t i = 0; i < xh.numel(); ++i) xh.data<float>()[i] = static_cast<float>((i * 7919) % 255) - 120.f;
  Tensor x = dev.is_cuda() ? to_device(xh, dev) : xh;
  const double ms = bench::median_ms(dev, [&] { run_layers_forward(chain, x); }, opt);
  const double images_per_s = static_cast<double>(batch) / (ms * 1e-3);
  bench::report(std::string("vgg16 base ") + (dev.is_cuda() ? precision_name(p) : "fp32") + " N" +
                    std::to_string(batch) + " 224x224",
                dev, ms, 0, base_flops_per_image(layers, 224) * static_cast<double>(batch),
                img_per_s(images_per_s));
}

}  // namespace

int main(int argc, char** argv) {
  restart_with_openmp_wait_policy(argv);  // as the apps do
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) {
    std::printf("# CPU: %s\n", cpu_backend_version().c_str());
    run(Device::cpu(), Precision::FP32, 1, opt);
    if (!opt.quick) {
      bench::Options slow = opt;  // ~4 s per pass on two cores: a few passes are enough
      slow.warmup = 1;
      slow.reps = std::min(opt.reps, 5);
      run(Device::cpu(), Precision::FP32, 30, slow);
    }
  }
  if (!bench::skip_gpu(opt, "vgg16 base (gpu)")) {
    const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30, 256} : std::vector<int64_t>{1, 30, 256};
    for (int64_t n : batches)
      for (Precision p : {Precision::FP32, Precision::TF32, Precision::BF16}) run(Device::cuda(), p, n, opt);
  }
  return 0;
}
