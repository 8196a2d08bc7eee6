// Augmentation (every transform on: bilinear affine in float64, flip, brightness, caffe): a
// training batch of 30 images of 224x224 (24 bytes per pixel: 12 read as f32 RGB, at most four
// taps mostly from cache, 12 written) and the batch plus its parameter draw on the host.
#include <string>
#include <vector>

#include "bench_harness.h"
#include "kernels/augment.h"

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  AugmentSpec spec;
  spec.hflip = true;
  spec.shift = 0.1;
  spec.zoom_lo = 0.8, spec.zoom_hi = 1.2;
  spec.rotate = 15;
  spec.brightness = true, spec.brightness_lo = 0.8, spec.brightness_hi = 1.2;
  const int n = 30, s = 224;
  std::vector<int64_t> indices(n);
  for (int i = 0; i < n; ++i) indices[i] = 7 * i;
  auto run = [&](Device d) {
    Tensor x = bench::random_tensor({n, s, s, 3}, d, 1, 0.f, 255.f);
    Tensor y = Tensor::empty({n, s, s, 3}, DType::F32, d);
    const std::vector<AugmentImage> items = augment_batch_items(spec, 42, 1, indices, s, s);
    const double bytes = 24.0 * n * s * s;
    const double ms = bench::median_ms(d, [&] { augment(y, x, items, PixelTransform::Caffe); }, opt);
    bench::report("augment all N30 224x224", d, ms, bytes, 0, "", &opt);
    uint32_t epoch = 0;
    const double ms_draw = bench::median_ms(
        d, [&] { augment(y, x, augment_batch_items(spec, 42, epoch++, indices, s, s), PixelTransform::Caffe); }, opt);
    bench::report("augment all N30 224x224 + draw", d, ms_draw, bytes, 0, "", &opt);
  };
  if (opt.cpu) run(Device::cpu());
  if (!bench::skip_gpu(opt, "augment (gpu)")) run(Device::cuda());
  return 0;
}
