// Type conversion f32 <-> bf16: a batch of base features (30 x 25,088) and 16M elements
// (6 bytes per element moved).
#include <string>

#include "bench_harness.h"
#include "kernels/cast.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  auto run = [&](Device d) {
    for (int64_t n : {int64_t{30 * 25088}, opt.quick ? int64_t{1} << 20 : int64_t{1} << 24}) {
      Tensor f = Tensor::zeros({n}, DType::F32, d), b = Tensor::zeros({n}, DType::BF16, d);
      double ms = bench::median_ms(
          d, [&] { cast(b, f); }, opt);
      bench::report("cast f32->bf16 " + std::to_string(n), d, ms, 6.0 * n, 0, "", &opt);
      ms = bench::median_ms(
          d, [&] { cast(f, b); }, opt);
      bench::report("cast bf16->f32 " + std::to_string(n), d, ms, 6.0 * n, 0, "", &opt);
    }
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "cast (gpu)")) run(Device::cuda());
  return 0;
}
