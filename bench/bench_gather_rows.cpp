// Row gather of the feature cache into a training batch (30 and 256 rows of 25,088 floats):
// memory-bound, reported against the device copy bandwidth.
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/gather_rows.h"

using namespace vggtl;

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  const int64_t cache_rows = 1024, cols = 25088;
  for (int64_t n : {int64_t{30}, int64_t{256}}) {
    std::vector<int32_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = static_cast<int32_t>((i * 397) % cache_rows);
    Tensor index = Tensor::wrap(idx.data(), {n}, DType::I32);
    const double bytes = 2.0 * static_cast<double>(n * cols * 4);
    const std::string name = "gather_rows " + std::to_string(n) + "x25088 f32";
    if (opt.cpu) {
      Tensor src = Tensor::zeros({cache_rows, cols}, DType::F32);
      Tensor dst = Tensor::empty({n, cols}, DType::F32);
      bench::report(name, Device::cpu(), bench::median_ms(Device::cpu(), [&] { gather_rows(dst, src, index); }, opt),
                    bytes, 0);
    }
    if (!bench::skip_gpu(opt, name)) {
      Tensor src = Tensor::zeros({cache_rows, cols}, DType::F32, Device::cuda());
      Tensor dst = Tensor::empty({n, cols}, DType::F32, Device::cuda());
      Tensor dindex = to_device(index, Device::cuda());
      bench::report(name, Device::cuda(),
                    bench::median_ms(Device::cuda(), [&] { gather_rows(dst, src, dindex); }, opt), bytes, 0, "", &opt);
    }
  }
  return 0;
}
