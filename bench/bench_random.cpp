// Philox fill: words per second on the CPU and the GPU (memory-bound on the GPU).
#include <vector>

#include "bench_harness.h"
#include "engine/philox.h"
#include "engine/tensor.h"
#include "kernels/random.h"

using namespace vggtl;

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  const int64_t n = opt.quick ? (1 << 22) : (1 << 26);
  if (opt.cpu) {
    Tensor h = Tensor::empty({n / 16}, DType::I32);
    double ms = bench::median_ms(Device::cpu(), [&] { philox_fill(h, 1, kRngDropout, 0); }, opt);
    bench::report("philox_fill " + std::to_string(n / 16) + " words", Device::cpu(), ms,
                  4.0 * static_cast<double>(n / 16), 0);
  }
  if (!bench::skip_gpu(opt, "philox_fill (gpu)")) {
    Tensor d = Tensor::empty({n}, DType::I32, Device::cuda());
    double ms = bench::median_ms(Device::cuda(), [&] { philox_fill(d, 1, kRngDropout, 0); }, opt);
    bench::report("philox_fill " + std::to_string(n) + " words", Device::cuda(), ms,
                  4.0 * static_cast<double>(n), 0, "", &opt);
  }
  return 0;
}
