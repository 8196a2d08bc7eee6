// Softmax cross-entropy with its gradient and the epoch totals: the head's (30, 2), a large
// batch of two classes, and 1000 classes (GB/s: logits read, probabilities and dlogits written).
#include <random>
#include <string>

#include "bench_harness.h"
#include "kernels/softmax_xent.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  auto run = [&](Device d) {
    for (auto [n, k] :
         {std::pair<int64_t, int64_t>{30, 2}, {opt.quick ? 4096 : 65536, 2}, {256, 1000}}) {
      Tensor z = Tensor::empty({n, k}, DType::F32), l = Tensor::empty({n}, DType::I32);
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> u(-4.f, 4.f);
      for (int64_t i = 0; i < n * k; ++i) z.data<float>()[i] = u(rng);
      for (int64_t i = 0; i < n; ++i) l.data<int32_t>()[i] = static_cast<int32_t>(i % k);
      Tensor logits = d.is_cpu() ? z : to_device(z, d), labels = d.is_cpu() ? l : to_device(l, d);
      Tensor p = Tensor::empty({n, k}, DType::F32, d), dl = Tensor::empty({n, k}, DType::F32, d);
      Tensor loss = Tensor::empty({n}, DType::F32, d), pred = Tensor::empty({n}, DType::I32, d);
      Tensor totals = Tensor::zeros({3}, DType::F64, d);
      const double ms = bench::median_ms(
          d,
          [&] {
            softmax_xent(p, &dl, &loss, pred, logits, &labels);
            xent_accumulate(totals, loss, pred, labels);
          },
          opt);
      bench::report("softmax_xent (" + std::to_string(n) + "," + std::to_string(k) + ")", d, ms,
                    12.0 * n * k + 12.0 * n, 0, "", &opt);
    }
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "softmax_xent (gpu)")) run(Device::cuda());
  return 0;
}
