// Bias add (+ReLU) and its column-sum gradient: the head's (30, 64) and a large matrix for
// bandwidth (GB/s counts x read + y written, or dy read).
#include <string>

#include "bench_harness.h"
#include "kernels/bias.h"

using namespace vggtl;

namespace {

void run(Device d, const bench::Options& opt) {
  const int64_t big = opt.quick ? 4096 : 65536;
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{30, 64}, {big, 256}}) {
    Tensor x = bench::random_tensor({rows, cols}, d, 1), b = bench::random_tensor({cols}, d, 2),
           y = Tensor::empty({rows, cols}, DType::F32, d);
    Tensor db = Tensor::empty({cols}, DType::F32, d);
    const std::string shape = "(" + std::to_string(rows) + "," + std::to_string(cols) + ")";
    const double n = static_cast<double>(rows * cols);
    double ms = bench::median_ms(
        d, [&] { bias_add(y, x, b, true); }, opt);
    bench::report("bias_add+relu " + shape, d, ms, 8.0 * n, 0, "", &opt);
    ms = bench::median_ms(
        d, [&] { bias_grad(db, x); }, opt);
    bench::report("bias_grad " + shape, d, ms, 4.0 * n, 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) run(Device::cpu(), opt);
  if (!bench::skip_gpu(opt, "bias (gpu)")) run(Device::cuda(), opt);
  return 0;
}
