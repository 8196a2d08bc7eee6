// The 13 VGG16 convolutions at 224x224, one line each. CPU: oneDNN (our backend) against the
// plain alternative, im2col + OpenBLAS sgemm + our bias_relu (the measurement that chose oneDNN),
// batch 1. GPU: cuDNN at batch 30 and 256 for each precision and each epilogue (fused by cuDNN,
// our bias_relu kernel, and Auto, which measures both), in TFLOP/s.
#include <cstdio>
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/bias_relu.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"

#if VGGTL_HAVE_OPENBLAS
#include <cblas.h>
#endif

using namespace vggtl;

namespace {

struct LayerShape {
  const char* name;
  int64_t hw, c, k;
};

const std::vector<LayerShape>& vgg_convs() {
  static const std::vector<LayerShape> v = {
      {"block1_conv1", 224, 3, 64},    {"block1_conv2", 224, 64, 64},   {"block2_conv1", 112, 64, 128},
      {"block2_conv2", 112, 128, 128}, {"block3_conv1", 56, 128, 256},  {"block3_conv2", 56, 256, 256},
      {"block3_conv3", 56, 256, 256},  {"block4_conv1", 28, 256, 512},  {"block4_conv2", 28, 512, 512},
      {"block4_conv3", 28, 512, 512},  {"block5_conv1", 14, 512, 512},  {"block5_conv2", 14, 512, 512},
      {"block5_conv3", 14, 512, 512}};
  return v;
}

Tensor random_tensor(const Shape& shape, uint32_t seed, float scale) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.data<float>();
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = scale * (static_cast<float>(s >> 8) / 16777216.0f - 0.5f);
  }
  return t;
}

#if VGGTL_HAVE_OPENBLAS
// Row p of col = the 3x3xC patch around output pixel p in (r, s, c) order, so that
// y (NHW, K) = col (NHW, 9C) x w (9C, K) with w the Keras kernel as it is stored.
void im2col_3x3(float* col, const float* x, int64_t n, int64_t h, int64_t w, int64_t c) {
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        float* row = col + ((b * h + i) * w + j) * 9 * c;
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q) {
            float* dst = row + (r * 3 + q) * c;
            const int64_t ii = i + r - 1, jj = j + q - 1;
            if (ii < 0 || ii >= h || jj < 0 || jj >= w) {
              for (int64_t k = 0; k < c; ++k) dst[k] = 0.f;
            } else {
              const float* src = x + ((b * h + ii) * w + jj) * c;
              for (int64_t k = 0; k < c; ++k) dst[k] = src[k];
            }
          }
      }
}
#endif

void bench_cpu(const bench::Options& opt) {
  const int64_t n = 1;
  std::printf("# CPU: %s, batch %lld\n", cpu_backend_version().c_str(), static_cast<long long>(n));
#if VGGTL_HAVE_OPENBLAS
  // OpenBLAS picks its kernels from the CPU model; on virtual CPUs it may fall back to an old
  // core (OPENBLAS_CORETYPE=SKYLAKEX overrides): say which one the comparison ran.
  std::printf("# OpenBLAS: core %s, %d threads\n", openblas_get_corename(), openblas_get_num_threads());
#endif
  double total_dnnl = 0, total_direct = 0, total_blas = 0, flops = 0;
  for (const LayerShape& l : vgg_convs()) {
    const Conv2dShape s{n, l.hw, l.hw, l.c, l.k};
    flops += s.flops();
    Tensor x = random_tensor({n, l.hw, l.hw, l.c}, 1, 2.f);
    Tensor w = random_tensor({3, 3, l.c, l.k}, 2, 0.1f);
    Tensor b = random_tensor({l.k}, 3, 0.1f);
    Tensor y = Tensor::empty({n, l.hw, l.hw, l.k}, DType::F32);
    // What the engine runs (Auto: Winograd where oneDNN has it), then direct convolution.
    Conv2dOnednn conv(l.c, l.k, true);
    const double ms = bench::median_ms(Device::cpu(), [&] {
      conv.forward(y.data<float>(), x.data<float>(), n, l.hw, l.hw, w.data<float>(), b.data<float>());
    }, opt);
    Conv2dOnednn direct(l.c, l.k, true, CpuConvAlgo::Direct);
    const double ms_direct = bench::median_ms(Device::cpu(), [&] {
      direct.forward(y.data<float>(), x.data<float>(), n, l.hw, l.hw, w.data<float>(), b.data<float>());
    }, opt);
    total_dnnl += ms;
    total_direct += ms_direct;
    const std::string name = std::string("conv2d ") + l.name + " N1 " + std::to_string(l.hw) + "x" +
                             std::to_string(l.hw) + "x" + std::to_string(l.c) + "->" + std::to_string(l.k);
    bench::report(name + " onednn", Device::cpu(), ms, 0, s.flops(),
                  conv.implementation() + ", " + std::to_string(ms_direct / ms).substr(0, 4) + "x direct");
    bench::report(name + " onednn direct", Device::cpu(), ms_direct, 0, s.flops(), direct.implementation());
#if VGGTL_HAVE_OPENBLAS
    Tensor col = Tensor::empty({n * l.hw * l.hw, 9 * l.c}, DType::F32);
    const int64_t m = n * l.hw * l.hw;
    const double ms_blas = bench::median_ms(Device::cpu(), [&] {
      im2col_3x3(col.data<float>(), x.data<float>(), n, l.hw, l.hw, l.c);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(l.k),
                  static_cast<int>(9 * l.c), 1.f, col.data<float>(), static_cast<int>(9 * l.c), w.data<float>(),
                  static_cast<int>(l.k), 0.f, y.data<float>(), static_cast<int>(l.k));
      bias_relu_cpu(y.data<float>(), y.data<float>(), b.data<float>(), m, l.k);
    }, opt);
    total_blas += ms_blas;
    bench::report(name + " im2col+openblas", Device::cpu(), ms_blas, 0, s.flops(),
                  "onednn direct is " + std::to_string(ms_blas / ms_direct).substr(0, 4) + "x faster");
#endif
  }
  bench::report("conv2d all 13 N1 224 onednn", Device::cpu(), total_dnnl, 0, flops,
                std::to_string(total_direct / total_dnnl).substr(0, 4) + "x direct");
  bench::report("conv2d all 13 N1 224 onednn direct", Device::cpu(), total_direct, 0, flops);
#if VGGTL_HAVE_OPENBLAS
  bench::report("conv2d all 13 N1 224 im2col+openblas", Device::cpu(), total_blas, 0, flops,
                "onednn direct is " + std::to_string(total_blas / total_direct).substr(0, 4) + "x faster");
#else
  std::printf("# im2col + OpenBLAS comparison not built: OpenBLAS was not found\n");
#endif
}

#if VGGTL_HAVE_CUDA
void bench_gpu(const bench::Options& opt) {
  const Device dev = Device::cuda();
  Context& ctx = Context::get(dev);
  const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30} : std::vector<int64_t>{30, 256};
  const ConvMath maths[] = {ConvMath::FP32, ConvMath::TF32, ConvMath::BF16};
  const ConvEpilogue epilogues[] = {ConvEpilogue::CudnnFused, ConvEpilogue::OwnKernel, ConvEpilogue::Auto};
  for (int64_t n : batches)
    for (ConvMath math : maths) {
      double total[3] = {0, 0, 0}, flops = 0;
      for (const LayerShape& l : vgg_convs()) {
        // conv1_1's three channels are zero-padded for tensor cores, as the Conv2D layer does.
        const int64_t cp = math == ConvMath::BF16 ? 8 : math == ConvMath::TF32 ? 4 : 3;
        const int64_t c = l.c == 3 ? cp : l.c;
        const DType dt = math == ConvMath::BF16 ? DType::BF16 : DType::F32;
        const Conv2dShape s{n, l.hw, l.hw, c, l.k};
        const double layer_flops = Conv2dShape{n, l.hw, l.hw, l.c, l.k}.flops();  // unpadded: useful work
        flops += layer_flops;
        Tensor xh = random_tensor({n, l.hw, l.hw, c}, 1, 2.f);
        Tensor wh = random_tensor({3, 3, c, l.k}, 2, 0.1f);
        Tensor bh = random_tensor({l.k}, 3, 0.1f);
        Tensor xf = to_device(xh, dev), wf = to_device(wh, dev), b = to_device(bh, dev);
        Tensor x = Tensor::empty(xf.shape(), dt, dev), w = Tensor::empty({l.k, 3, 3, c}, dt, dev);
        Tensor b16 = Tensor::empty({l.k}, DType::BF16, dev);
        convert(x, xf);
        hwio_to_krsc(w, wf);
        convert(b16, b);
        Tensor y = Tensor::empty({n, l.hw, l.hw, l.k}, dt, dev);
        for (int e = 0; e < 3; ++e) {
          const ConvEpilogue ep = epilogues[e];
          CudnnConvChoice choice;
          auto run = [&] {
            const size_t ws_bytes = conv2d_cudnn_workspace_bytes(s, math, ep, dev, ctx.cudnn());
            void* ws = ctx.workspace(ws_bytes);
            choice = conv2d_forward_cudnn(y.raw(), x.raw(), w.raw(), b.data<float>(), b16.data<bf16>(), s, math,
                                          ep, ws, ws_bytes, dev, ctx.stream(), ctx.cudnn());
          };
          run();  // the search, outside the timing
          const double ms = bench::median_ms(dev, run, opt);
          total[e] += ms;
          bench::report(std::string("conv2d ") + l.name + " N" + std::to_string(n) + " " + conv_math_name(math) +
                            " " + conv_epilogue_name(ep),
                        dev, ms, 0, layer_flops, choice.str(), &opt);
        }
      }
      for (int e = 0; e < 3; ++e)
        bench::report(std::string("conv2d all 13 N") + std::to_string(n) + " " + conv_math_name(math) + " " +
                          conv_epilogue_name(epilogues[e]),
                      dev, total[e], 0, flops, "", &opt);
    }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) bench_cpu(opt);
  if (!bench::skip_gpu(opt, "conv2d (gpu)")) {
#if VGGTL_HAVE_CUDA
    bench_gpu(opt);
#endif
  }
  return 0;
}
