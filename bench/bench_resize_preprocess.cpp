// Resize + preprocess of one decoded 500x375 RGB image into a 224x224x3 row: nearest and
// bilinear, f32 and bf16 output; CPU twin and CUDA twin (GPU part skips without a GPU).
// Bytes counted: the source image read once plus the output row written.
#include <cstring>
#include <string>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "kernels/resize_preprocess.h"
#if VGGTL_HAVE_CUDA
#include "engine/context.h"
#endif

using namespace vggtl;

int main(int argc, char** argv) {
  const bench::Options opt = bench::parse_options(argc, argv);
  const int in_h = 375, in_w = 500, S = 224;
  std::vector<uint8_t> pixels(static_cast<size_t>(in_h) * in_w * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
  Tensor in = Tensor::empty(Shape{in_h, in_w, 3}, DType::U8);
  std::memcpy(in.raw(), pixels.data(), pixels.size());

  for (ResizeFilter f : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) {
    const ResizePlan plan = make_resize_plan(in_h, in_w, S, S, f);
    for (DType dt : {DType::F32, DType::BF16}) {
      const std::string name = std::string("resize_preprocess ") + resize_filter_name(f) + " 500x375->224 " +
                               dtype_name(dt);
      const double bytes = static_cast<double>(in.nbytes()) + static_cast<double>(S) * S * 3 * dtype_size(dt);
      if (opt.cpu) {
        Tensor out = Tensor::empty(Shape{S, S, 3}, dt);
        const double ms = bench::median_ms(Device::cpu(), [&] { resize_preprocess(out, in, plan, PixelTransform::Caffe); }, opt);
        bench::report(name, Device::cpu(), ms, bytes, 0);
      }
      if (!bench::skip_gpu(opt, name)) {
#if VGGTL_HAVE_CUDA
        const Device gpu = Device::cuda();
        Tensor in_d = to_device(in, gpu);
        Tensor out_d = Tensor::empty(Shape{S, S, 3}, dt, gpu);
        Tensor table = to_device(Tensor::wrap(const_cast<int32_t*>(plan.table.data()),
                                              Shape{static_cast<int64_t>(plan.table.size())}, DType::I32),
                                 gpu);
        Tensor tmp = Tensor::empty(Shape{static_cast<int64_t>(resize_tmp_bytes(plan.g) + 1)}, DType::U8, gpu);
        Stream s = main_stream(gpu);
        const double ms = bench::median_ms(gpu, [&] {
          if (dt == DType::F32)
            resize_preprocess_cuda(out_d.data<float>(), tmp.data<uint8_t>(), in_d.data<uint8_t>(), table.data<int32_t>(),
                                   plan.g, PixelTransform::Caffe, s);
          else
            resize_preprocess_cuda(out_d.data<bf16>(), tmp.data<uint8_t>(), in_d.data<uint8_t>(), table.data<int32_t>(),
                                   plan.g, PixelTransform::Caffe, s);
        }, opt);
        bench::report(name, gpu, ms, bytes, 0, "", &opt);
#endif
      }
    }
  }
  return 0;
}
