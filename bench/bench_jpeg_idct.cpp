// JPEG IDCT (dequantise + ISLOW): a batch of 500x375 4:2:0 images (the reference data's typical
// size), as blocks/s, images/s and GB/s (coefficients read + samples written), CPU twin and GPU.
#include <random>
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/jpeg_idct.h"

using namespace vggtl;

namespace {

struct Workload {
  std::vector<int16_t> coefs;
  std::vector<uint16_t> quant;
  std::vector<JpegIdctPlane> planes;
  int64_t blocks = 0, out_bytes = 0;
  int64_t num_ctas = 0;
};

// Photograph-like statistics: most AC coefficients zero, a few small ones, DC anywhere.
Workload make_workload(int images) {
  Workload w;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 64; ++i) w.quant.push_back(static_cast<uint16_t>(2 + i / 4));
  const int dims[3][2] = {{63, 47}, {32, 24}, {32, 24}};  // 500x375 at 4:2:0
  for (int im = 0; im < images; ++im) {
    for (const auto& d : dims) {
      JpegIdctPlane p;
      p.width_in_blocks = d[0];
      p.height_in_blocks = d[1];
      p.coef_offset = w.blocks * 64;
      p.out_offset = w.out_bytes;
      w.blocks += int64_t{d[0]} * d[1];
      w.out_bytes += int64_t{d[0]} * d[1] * 64;
      w.planes.push_back(p);
    }
  }
  w.coefs.resize(static_cast<size_t>(w.blocks * 64));
  for (size_t i = 0; i < w.coefs.size(); ++i) {
    const uint64_t r = rng();
    const int k = static_cast<int>(i % 64);
    if (k == 0) w.coefs[i] = static_cast<int16_t>(static_cast<int>(r % 201) - 100);
    else w.coefs[i] = (r % 100 < 100 - 3 * (64 - k) / 4) ? 0 : static_cast<int16_t>(static_cast<int>(r % 21) - 10);
  }
  w.num_ctas = jpeg_idct_plan(w.planes.data(), static_cast<int>(w.planes.size()));
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  const int images = opt.quick ? 30 : 256;
  Workload w = make_workload(images);
  const double bytes = static_cast<double>(w.blocks) * (64 * 2 + 64);
  const std::string name = "jpeg_idct " + std::to_string(images) + "x 500x375 4:2:0";
  auto note = [&](double ms) {
    return std::to_string(static_cast<long long>(w.blocks / (ms * 1e-3) / 1e6)) + " Mblocks/s, " +
           std::to_string(static_cast<long long>(images / (ms * 1e-3))) + " images/s";
  };
  if (opt.cpu) {
    std::vector<uint8_t> out(static_cast<size_t>(w.out_bytes));
    bench::Options o = opt;
    o.reps = std::min(opt.reps, 5);
    const double ms = bench::median_ms(Device::cpu(), [&] {
      jpeg_idct_cpu(out.data(), w.coefs.data(), w.quant.data(), w.planes.data(),
                    static_cast<int>(w.planes.size()));
    }, o);
    bench::report(name + " (1 thread)", Device::cpu(), ms, bytes, 0, note(ms));
  }
  if (!bench::skip_gpu(opt, name)) {
    const Device gpu = Device::cuda();
    auto upload = [&](const void* p, size_t n) {
      return to_device(Tensor::wrap(const_cast<void*>(p), Shape{static_cast<int64_t>(n)}, DType::U8), gpu);
    };
    Tensor coefs = upload(w.coefs.data(), w.coefs.size() * 2);
    Tensor quant = upload(w.quant.data(), w.quant.size() * 2);
    Tensor planes = upload(w.planes.data(), w.planes.size() * sizeof(JpegIdctPlane));
    Tensor out = Tensor::empty(Shape{w.out_bytes}, DType::U8, gpu);
    const double ms = bench::median_ms(gpu, [&] {
      jpeg_idct(gpu, out.data<uint8_t>(), reinterpret_cast<const int16_t*>(coefs.data<uint8_t>()),
                     reinterpret_cast<const uint16_t*>(quant.data<uint8_t>()),
                     reinterpret_cast<const JpegIdctPlane*>(planes.data<uint8_t>()),
                     static_cast<int>(w.planes.size()), w.num_ctas, main_stream(gpu));
    }, opt);
    bench::report(name, gpu, ms, bytes, 0, note(ms), &opt);
  }
  return 0;
}
