// The whole VGG16 base at 224x224 (random He weights): images/s per precision, GPU at batch 1,
// 30 and 256, CPU in fp32 and bf16 (where the CPU has it) at batch 1, 8 and 30, each CPU line
// naming the oneDNN implementations it ran (so a figure names its ISA). Lines are named like
// bench/peers/torch_vgg16.py's, so a script can divide the two
// ("vgg16 base <precision> N<batch> 224x224 | <device> | ...").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"
#include "kernels/maxpool2d.h"
#include "layers/conv2d.h"
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

// The oneDNN implementations the CPU layers ran, each once, in order: "brgconv:avx512_core (12),
// jit:avx512_core (1)"; the bf16 pools' too.
std::string cpu_implementations(const std::vector<std::unique_ptr<Layer>>& layers, Precision p) {
  std::vector<std::pair<std::string, int>> seen;
  for (const auto& l : layers) {
    const auto* conv = dynamic_cast<const Conv2D*>(l.get());
    if (!conv) continue;
    const std::string impl = conv->cpu_implementation();
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == impl; });
    if (it == seen.end()) seen.emplace_back(impl, 1);
    else ++it->second;
  }
  std::string out = "conv ";
  for (size_t i = 0; i < seen.size(); ++i)
    out += (i ? ", " : "") + seen[i].first + " (" + std::to_string(seen[i].second) + ")";
  if (p == Precision::BF16) out += "; pool " + maxpool2d_onednn_implementation();
  return out;
}

// Runs and reports one case; returns the features of the last pass (f32 or bf16, on dev).
Tensor run(Device dev, Precision p, int64_t batch, const bench::Options& opt) {
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
  Tensor y;
  const double ms = bench::median_ms(dev, [&] { y = run_layers_forward(chain, x); }, opt);
  const double images_per_s = static_cast<double>(batch) / (ms * 1e-3);
  const Precision ran = dev.is_cuda() || p == Precision::BF16 ? p : Precision::FP32;
  bench::report(std::string("vgg16 base ") + precision_name(ran) + " N" + std::to_string(batch) + " 224x224", dev, ms, 0,
                base_flops_per_image(layers, 224) * static_cast<double>(batch),
                img_per_s(images_per_s) + (dev.is_cuda() ? std::string() : ", " + cpu_implementations(layers, p)));
  return y;
}

// bf16 features against fp32 ones (host tensors): max abs error over max abs value.
double max_error_of_max(const Tensor& f32, const Tensor& b16) {
  Tensor b = Tensor::empty(b16.shape(), DType::F32);
  convert(b, b16);
  double err = 0, top = 0;
  for (int64_t i = 0; i < f32.numel(); ++i) {
    err = std::max(err, std::abs(static_cast<double>(b.data<float>()[i]) - f32.data<float>()[i]));
    top = std::max(top, std::abs(static_cast<double>(f32.data<float>()[i])));
  }
  return err / top;
}

}  // namespace

int main(int argc, char** argv) {
  restart_with_openmp_wait_policy(argv);  // as the apps do
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) {
    std::printf("# CPU: %s, ISA %s\n", cpu_backend_version().c_str(), cpu_isa_name().c_str());
    std::vector<Precision> precisions{Precision::FP32};
    if (cpu_has_bf16()) precisions.push_back(Precision::BF16);
    else std::printf("%-48s | skipped: %s\n", "vgg16 base bf16 (cpu)", cpu_bf16_unsupported_reason().c_str());
    Tensor fp32_features;
    for (int64_t n : opt.quick ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 8, 30})
      for (Precision p : precisions) {
        bench::Options slow = opt;  // up to ~4 s per pass on two cores: a few passes are enough
        if (n > 1) {
          slow.warmup = 1;
          slow.reps = std::min(opt.reps, n > 8 ? 3 : 5);
        }
        Tensor y = run(Device::cpu(), p, n, slow);
        if (p == Precision::FP32) fp32_features = y;
        else if (n == 1) std::printf("# bf16 features N1 224x224: max error %.2e of the largest fp32 feature\n",
                                     max_error_of_max(fp32_features, y));
      }
  }
  if (!bench::skip_gpu(opt, "vgg16 base (gpu)")) {
    const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30, 256} : std::vector<int64_t>{1, 30, 256};
    for (int64_t n : batches)
      for (Precision p : {Precision::FP32, Precision::TF32, Precision::BF16}) run(Device::cuda(), p, n, opt);
  }
  return 0;
}
