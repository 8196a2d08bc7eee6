// JPEG upsampling + colour conversion: a batch of 500x375 images at 4:2:0 (fancy h2v2) and 4:4:4,
// as images/s and GB/s (planes read + RGB written), CPU twin and GPU.
#include <random>
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/jpeg_color.h"

using namespace vggtl;

namespace {

struct Workload {
  std::vector<uint8_t> planes;
  std::vector<JpegColorImage> images;
  int64_t rgb_bytes = 0, plane_bytes_read = 0;
  int64_t num_ctas = 0;
};

Workload make_workload(int count, bool subsampled) {
  Workload w;
  const int width = 500, height = 375;
  int64_t at = 0;
  for (int i = 0; i < count; ++i) {
    JpegColorImage im;
    im.width = width;
    im.height = height;
    for (int c = 0; c < 3; ++c) {
      JpegColorPlane& p = im.plane[c];
      const bool sub = subsampled && c > 0;
      p.method = sub ? JpegUpsample::FancyH2V2 : JpegUpsample::Full;
      p.width = sub ? (width + 1) / 2 : width;
      p.height = sub ? (height + 1) / 2 : height;
      p.stride = (p.width + 7) / 8 * 8;
      p.offset = at;
      at += int64_t{p.stride} * ((p.height + 7) / 8 * 8);
      w.plane_bytes_read += int64_t{p.width} * p.height;
    }
    im.out_offset = w.rgb_bytes;
    w.rgb_bytes += int64_t{width} * height * 3;
    w.images.push_back(im);
  }
  w.planes.resize(static_cast<size_t>(at));
  std::mt19937 rng(2);
  for (uint8_t& v : w.planes) v = static_cast<uint8_t>(rng());
  w.num_ctas = jpeg_color_plan(w.images.data(), count);
  return w;
}

void run(const bench::Options& opt, int count, bool subsampled) {
  Workload w = make_workload(count, subsampled);
  const double bytes = static_cast<double>(w.plane_bytes_read + w.rgb_bytes);
  const std::string name = "jpeg_color " + std::to_string(count) + "x 500x375 " +
                           (subsampled ? "4:2:0 fancy" : "4:4:4");
  auto note = [&](double ms) {
    return std::to_string(static_cast<long long>(count / (ms * 1e-3))) + " images/s";
  };
  if (opt.cpu) {
    std::vector<uint8_t> rgb(static_cast<size_t>(w.rgb_bytes));
    bench::Options o = opt;
    o.reps = std::min(opt.reps, 5);
    const double ms = bench::median_ms(Device::cpu(), [&] {
      jpeg_color_cpu(rgb.data(), w.planes.data(), w.images.data(), count);
    }, o);
    bench::report(name + " (1 thread)", Device::cpu(), ms, bytes, 0, note(ms));
  }
  if (!bench::skip_gpu(opt, name)) {
    const Device gpu = Device::cuda();
    Tensor planes = to_device(Tensor::wrap(w.planes.data(), Shape{static_cast<int64_t>(w.planes.size())}, DType::U8), gpu);
    const int64_t desc = static_cast<int64_t>(w.images.size() * sizeof(JpegColorImage));
    Tensor images = to_device(Tensor::wrap(w.images.data(), Shape{desc}, DType::U8), gpu);
    Tensor rgb = Tensor::empty(Shape{w.rgb_bytes}, DType::U8, gpu);
    const double ms = bench::median_ms(gpu, [&] {
      jpeg_color(gpu, rgb.data<uint8_t>(), planes.data<uint8_t>(),
                      reinterpret_cast<const JpegColorImage*>(images.data<uint8_t>()), count,
                      w.num_ctas, main_stream(gpu));
    }, opt);
    bench::report(name, gpu, ms, bytes, 0, note(ms), &opt);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  const int count = opt.quick ? 30 : 256;
  run(opt, count, true);
  run(opt, count, false);
  return 0;
}
