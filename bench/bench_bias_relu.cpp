// bias + ReLU (in place, as the conv layers use it) at the VGG16 conv output shapes, f32 and bf16:
// GPU at batch 30 and 256 in GB/s against the copy bandwidth; the CPU twin at batch 1.
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/bias_relu.h"

using namespace vggtl;

namespace {

struct ActShape {
  int64_t hw, c;
};
const ActShape kActs[] = {{224, 64}, {112, 128}, {56, 256}, {28, 512}, {14, 512}};

void run(Device dev, int64_t n, DType dt, const bench::Options& opt) {
  for (const ActShape& a : kActs) {
    Tensor x = Tensor::zeros({n, a.hw, a.hw, a.c}, dt, dev);
    Tensor b = Tensor::zeros({a.c}, DType::F32, dev);
    const double ms = bench::median_ms(dev, [&] { bias_relu(x, x, b); }, opt);
    bench::report("bias_relu N" + std::to_string(n) + " " + std::to_string(a.hw) + "x" + std::to_string(a.hw) + "x" +
                      std::to_string(a.c) + " " + dtype_name(dt),
                  dev, ms, 2.0 * static_cast<double>(x.nbytes()), 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu)
    for (DType dt : {DType::F32, DType::BF16}) run(Device::cpu(), 1, dt, opt);
  if (!bench::skip_gpu(opt, "bias_relu (gpu)")) {
    const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30} : std::vector<int64_t>{30, 256};
    for (int64_t n : batches)
      for (DType dt : {DType::F32, DType::BF16}) run(Device::cuda(), n, dt, opt);
  }
  return 0;
}
