// Dropout (Philox mask drawn on the fly): the head's (30, 64) and 16M elements (8 bytes per
// element: x read, y written).
#include <random>
#include <string>

#include "bench_harness.h"
#include "kernels/dropout.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  auto run = [&](Device d) {
    for (int64_t n : {int64_t{30 * 64}, opt.quick ? int64_t{1} << 20 : int64_t{1} << 24}) {
      Tensor h = Tensor::empty({n}, DType::F32);
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> u(-1.f, 1.f);
      for (int64_t i = 0; i < n; ++i) h.data<float>()[i] = u(rng);
      Tensor x = d.is_cpu() ? h : to_device(h, d);
      Tensor y = Tensor::empty({n}, DType::F32, d);
      uint32_t step = 0;
      const double ms = bench::median_ms(
          d, [&] { dropout(y, x, 0.5f, 42, step++, 0); }, opt);
      bench::report("dropout 0.5 " + std::to_string(n), d, ms, 8.0 * n, 0, "", &opt);
    }
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "dropout (gpu)")) run(Device::cuda());
  return 0;
}
