// Benchmark harness implementation.
#include "bench_harness.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "engine/timer.h"

namespace vggtl::bench {

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      o.quick = true;
      o.warmup = 2;
      o.reps = 5;
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--cpu-only")) {
      o.gpu = false;
    } else if (!std::strcmp(argv[i], "--gpu-only")) {
      o.cpu = false;
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--reps N] [--cpu-only|--gpu-only]\n", argv[0]);
      std::exit(2);
    }
  }
  return o;
}

namespace {
void flush_l2(Device device) {
  if (!device.is_cuda()) return;
  // 256 MiB: several times the H200's 50 MB L2.
  static Tensor scratch;
  if (!scratch.defined()) scratch = Tensor::empty({256 << 20}, DType::U8, device);
  fill_zero(scratch);
}
}  // namespace

double median_ms(Device device, const std::function<void()>& fn, const Options& opt) {
  for (int i = 0; i < opt.warmup; ++i) fn();
  synchronize(device);
  std::vector<double> times;
  GpuTimer timer(device);
  for (int i = 0; i < opt.reps; ++i) {
    flush_l2(device);
    timer.start();
    fn();
    timer.stop();
    times.push_back(timer.milliseconds());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double copy_bandwidth_gbs(Device device, const Options& opt) {
  static double cached = 0;
  if (cached > 0) return cached;
  const int64_t bytes = opt.quick ? (int64_t{64} << 20) : (int64_t{1} << 30);
  Tensor a = Tensor::zeros({bytes}, DType::U8, device);
  Tensor b = Tensor::empty({bytes}, DType::U8, device);
  Options o = opt;
  o.reps = std::max(3, opt.reps / 2);
  const double ms = median_ms(device, [&] { copy(b, a); }, o);
  cached = 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;  // read + write
  return cached;
}

void report(const std::string& name, Device device, double ms, double bytes, double flops,
            const std::string& note, const Options* opt) {
  std::printf("%-48s | %-7s | %9.3f ms", name.c_str(), device.str().c_str(), ms);
  if (bytes > 0) {
    const double gbs = bytes / (ms * 1e-3) / 1e9;
    std::printf(" | %8.1f GB/s", gbs);
    if (opt && device.is_cuda()) std::printf(" (%.0f%% of copy)", 100.0 * gbs / copy_bandwidth_gbs(device, *opt));
  }
  if (flops > 0) std::printf(" | %8.2f TFLOP/s", flops / (ms * 1e-3) / 1e12);
  if (!note.empty()) std::printf(" | %s", note.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

bool skip_gpu(const Options& opt, const std::string& what) {
  if (!opt.gpu) return true;
  if (cuda_available()) return false;
  std::printf("%-48s | skipped: %s\n", what.c_str(), cuda_runtime_info().unusable_reason.c_str());
  return true;
}

Tensor random_tensor(const Shape& shape, Device device, uint32_t seed, float lo, float hi) {
  Tensor h = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  float* p = h.data<float>();
  for (int64_t i = 0; i < h.numel(); ++i) p[i] = u(rng);
  return device.is_cpu() ? h : to_device(h, device);
}

}  // namespace vggtl::bench
