// ReLU forward and backward: the head's (30, 64) and 16M elements for bandwidth (forward reads x
// and writes y: 8 bytes per element; backward reads dy and y, writes dx: 12).
#include <string>

#include "bench_harness.h"
#include "kernels/relu.h"

using namespace vggtl;

namespace {

void run(Device d, const bench::Options& opt) {
  for (int64_t n : {int64_t{30 * 64}, opt.quick ? int64_t{1} << 20 : int64_t{1} << 24}) {
    Tensor x = bench::random_tensor({n}, d, 1), dy = bench::random_tensor({n}, d, 2);
    Tensor y = Tensor::empty({n}, DType::F32, d), dx = Tensor::empty({n}, DType::F32, d);
    double ms = bench::median_ms(
        d, [&] { relu_forward(y, x); }, opt);
    bench::report("relu fwd " + std::to_string(n), d, ms, 8.0 * n, 0, "", &opt);
    ms = bench::median_ms(
        d, [&] { relu_backward(dx, dy, y); }, opt);
    bench::report("relu bwd " + std::to_string(n), d, ms, 12.0 * n, 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) run(Device::cpu(), opt);
  if (!bench::skip_gpu(opt, "relu (gpu)")) run(Device::cuda(), opt);
  return 0;
}
