// 2x2 max-pool at the five VGG16 pooling shapes (224x224 input), f32 and bf16: GPU at batch 30
// and 256 in GB/s against the copy bandwidth; the CPU twin (the plain specification) at batch 1.
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/maxpool2d.h"

using namespace vggtl;

namespace {

struct PoolShape {
  int64_t hw, c;
};
const PoolShape kPools[] = {{224, 64}, {112, 128}, {56, 256}, {28, 512}, {14, 512}};

void run(Device dev, int64_t n, DType dt, const bench::Options& opt) {
  for (const PoolShape& p : kPools) {
    Tensor x = Tensor::zeros({n, p.hw, p.hw, p.c}, dt, dev);
    Tensor y = Tensor::empty({n, p.hw / 2, p.hw / 2, p.c}, dt, dev);
    const double ms = bench::median_ms(dev, [&] { maxpool2d_forward(y, x); }, opt);
    const double bytes = static_cast<double>(x.nbytes() + y.nbytes());
    bench::report("maxpool2d fwd N" + std::to_string(n) + " " + std::to_string(p.hw) + "x" + std::to_string(p.hw) +
                      "x" + std::to_string(p.c) + " " + dtype_name(dt),
                  dev, ms, bytes, 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu)
    for (DType dt : {DType::F32, DType::BF16}) run(Device::cpu(), 1, dt, opt);
  if (!bench::skip_gpu(opt, "maxpool2d (gpu)")) {
    const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30} : std::vector<int64_t>{30, 256};
    for (int64_t n : batches)
      for (DType dt : {DType::F32, DType::BF16}) run(Device::cuda(), n, dt, opt);
  }
  return 0;
}
