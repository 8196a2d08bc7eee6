// Conversions on the conv base's input path: f32 <-> bf16 of a block1 activation, and the
// 224x224x3 image padded to 4 channels (f32, tf32 path) or 8 (bf16 path). GPU at batch 30 and
// 256 in GB/s against the copy bandwidth; the CPU twins at batch 1.
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/convert.h"

using namespace vggtl;

namespace {

void run(Device dev, int64_t n, const bench::Options& opt) {
  const std::string nb = "N" + std::to_string(n) + " ";
  {
    Tensor f = Tensor::zeros({n, 224, 224, 64}, DType::F32, dev);
    Tensor h = Tensor::zeros({n, 224, 224, 64}, DType::BF16, dev);
    const double bytes = static_cast<double>(f.nbytes() + h.nbytes());
    double ms = bench::median_ms(dev, [&] { convert(h, f); }, opt);
    bench::report("convert f32->bf16 " + nb + "224x224x64", dev, ms, bytes, 0, "", &opt);
    ms = bench::median_ms(dev, [&] { convert(f, h); }, opt);
    bench::report("convert bf16->f32 " + nb + "224x224x64", dev, ms, bytes, 0, "", &opt);
  }
  Tensor img = Tensor::zeros({n, 224, 224, 3}, DType::F32, dev);
  for (auto [cp, dt] : {std::pair<int64_t, DType>{4, DType::F32}, {8, DType::BF16}}) {
    Tensor y = Tensor::empty({n, 224, 224, cp}, dt, dev);
    const double ms = bench::median_ms(dev, [&] { pad_channels(y, img); }, opt);
    bench::report("pad_channels f32 3->" + std::to_string(cp) + " " + dtype_name(dt) + " " + nb + "224x224", dev, ms,
                  static_cast<double>(img.nbytes() + y.nbytes()), 0, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) run(Device::cpu(), 1, opt);
  if (!bench::skip_gpu(opt, "convert (gpu)")) {
    const std::vector<int64_t> batches = opt.quick ? std::vector<int64_t>{30} : std::vector<int64_t>{30, 256};
    for (int64_t n : batches) run(Device::cuda(), n, opt);
  }
  return 0;
}
