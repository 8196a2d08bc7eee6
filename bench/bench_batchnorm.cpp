// BatchNorm train forward (reads x three times, writes y), backward (reads dy and x twice,
// writes dx) and eval forward (reads x, writes y): the head's (30, 64) and a large batch.
#include <string>

#include "bench_harness.h"
#include "kernels/batchnorm.h"

using namespace vggtl;

namespace {

void run(Device d, const bench::Options& opt) {
  const int64_t big = opt.quick ? 4096 : 65536;
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{30, 64}, {big, 256}}) {
    Tensor x = bench::random_tensor({rows, cols}, d, 1), dy = bench::random_tensor({rows, cols}, d, 2);
    Tensor y = Tensor::empty({rows, cols}, DType::F32, d),
           dx = Tensor::empty({rows, cols}, DType::F32, d);
    Tensor gamma = bench::random_tensor({cols}, d, 3, 0.5f, 1.5f), beta = bench::random_tensor({cols}, d, 4);
    Tensor mm = bench::random_tensor({cols}, d, 5), mv = bench::random_tensor({cols}, d, 6, 0.5f, 2.f);
    Tensor mean = Tensor::empty({cols}, DType::F32, d), inv = Tensor::empty({cols}, DType::F32, d);
    Tensor dg = Tensor::empty({cols}, DType::F32, d), db = Tensor::empty({cols}, DType::F32, d);
    const std::string shape = "(" + std::to_string(rows) + "," + std::to_string(cols) + ")";
    const double n = static_cast<double>(rows * cols);
    double ms = bench::median_ms(
        d, [&] { batchnorm_train_forward(y, mean, inv, mm, mv, x, gamma, beta, 1e-3, 0.01); }, opt);
    bench::report("batchnorm train fwd " + shape, d, ms, 16.0 * n, 0, "", &opt);
    ms = bench::median_ms(
        d, [&] { batchnorm_backward(&dx, &dg, &db, dy, x, gamma, mean, inv, true); }, opt);
    bench::report("batchnorm bwd " + shape, d, ms, 20.0 * n, 0, "", &opt);
    ms = bench::median_ms(
        d, [&] { batchnorm_eval_forward(y, mean, inv, x, gamma, beta, mm, mv, 1e-3); }, opt);
    bench::report("batchnorm eval fwd " + shape, d, ms, 8.0 * n, 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) run(Device::cpu(), opt);
  if (!bench::skip_gpu(opt, "batchnorm (gpu)")) run(Device::cuda(), opt);
  return 0;
}
