// Benchmark harness: warm-up, L2 flush, CUDA events (GPU) or the steady clock (CPU), median of
// N repetitions, and one line per case: "name | 0.05 ms | 2900 GB/s (67% of copy) | note".
// Absolute times mean something only on the GPU machine; on shared CPUs compare ratios.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/device.h"
#include "engine/tensor.h"

namespace vggtl::bench {

struct Options {
  int warmup = 3;
  int reps = 20;
  bool quick = false;  // fewer repetitions and smaller sizes, for scripts/device_check.sh
  bool cpu = true;     // run the CPU cases
  bool gpu = true;     // run the GPU cases (skipped with a note when no GPU is usable)
};

Options parse_options(int argc, char** argv);

// Median milliseconds of `fn` on `device`; the L2 cache is flushed before each repetition.
double median_ms(Device device, const std::function<void()>& fn, const Options& opt);

// Device-to-device copy bandwidth in GB/s (the ceiling for memory-bound kernels), measured
// once per process on a 1 GiB buffer (64 MiB in quick mode).
double copy_bandwidth_gbs(Device device, const Options& opt);

// Prints one line. bytes and flops may be 0 to omit the rate.
void report(const std::string& name, Device device, double ms, double bytes, double flops,
            const std::string& note = "", const Options* opt = nullptr);

// An f32 tensor of uniform values in [lo, hi) from a fixed seed, on `device`.
Tensor random_tensor(const Shape& shape, Device device, uint32_t seed, float lo = -1.f, float hi = 1.f);

// Prints "skipped: <reason>" for GPU benches on a machine without a GPU; returns true if so.
bool skip_gpu(const Options& opt, const std::string& what);

}  // namespace vggtl::bench
