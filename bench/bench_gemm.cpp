// GEMM at the reference head's shapes (batch 30, 25,088 -> 64 -> 2): forward, weight gradient
// and input gradient, in TFLOP/s; oneDNN on the CPU, cuBLAS (fp32) on the GPU.
#include <string>

#include "bench_harness.h"
#include "kernels/gemm.h"

using namespace vggtl;

namespace {

struct Case {
  const char* name;
  int64_t m, n, k;
  bool ta, tb;
};

void run(Device d, const bench::Options& opt) {
  const Case cases[] = {
      {"fwd   x(30,25088) W(25088,64)", 30, 64, 25088, false, false},
      {"dW    x^T(25088,30) dz(30,64)", 25088, 64, 30, true, false},
      {"dx    dz(30,64) W^T(64,25088)", 30, 25088, 64, false, true},
      {"fwd   h(30,64) W(64,2)", 30, 2, 64, false, false},
  };
  for (const Case& c : cases) {
    Tensor a = bench::random_tensor(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, d, 1);
    Tensor b = bench::random_tensor(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, d, 2);
    Tensor out = Tensor::empty({c.m, c.n}, DType::F32, d);
    const double ms = bench::median_ms(
        d, [&] { gemm(out, a, b, c.ta, c.tb); }, opt);
    const double bytes = 4.0 * static_cast<double>(c.m * c.k + c.k * c.n + c.m * c.n);
    bench::report(std::string("gemm ") + c.name, d, ms, bytes, 2.0 * c.m * c.n * c.k, "", &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  if (opt.cpu) run(Device::cpu(), opt);
  if (!bench::skip_gpu(opt, "gemm (gpu)")) run(Device::cuda(), opt);
  return 0;
}
