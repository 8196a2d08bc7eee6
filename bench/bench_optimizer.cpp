// Optimizer updates over the reference head's 1,605,954 trainable weights: Adam moves 28 bytes
// per weight (w, m, v, g read; w, m, v written), SGD with momentum 20; GB/s and, on the GPU, the
// fraction of device copy bandwidth (target >= 70%). Also the arena of the 13-conv base (14.7M).
#include <string>

#include "bench_harness.h"
#include "kernels/optimizer.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  auto run = [&](Device d) {
    for (int64_t n : {int64_t{1605954}, int64_t{14714688}}) {
      Tensor w = Tensor::zeros({n}, DType::F32, d), m = Tensor::zeros({n}, DType::F32, d);
      Tensor v = Tensor::zeros({n}, DType::F32, d), g = Tensor::zeros({n}, DType::F32, d);
      int64_t step = 0;
      double ms = bench::median_ms(
          d, [&] { adam_step(w, m, v, g, 1e-4, 0.9, 0.999, 1e-7, step++); }, opt);
      bench::report("adam " + std::to_string(n) + " weights", d, ms, 28.0 * n, 0, "", &opt);
      ms = bench::median_ms(
          d, [&] { sgd_step(w, &m, g, 1e-2, 0.9, true); }, opt);
      bench::report("sgd nesterov " + std::to_string(n) + " weights", d, ms, 20.0 * n, 0, "", &opt);
    }
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "optimizer (gpu)")) run(Device::cuda());
  return 0;
}
