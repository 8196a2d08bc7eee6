// Resize + preprocess of one decoded 500x375 RGB image into a 224x224x3 row: nearest and
// bilinear, f32 and bf16 output; then a batch of them through the batched variant (one launch
// per pass); CPU twin and CUDA twin (GPU part skips without a GPU).
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
  // The batched variant: 30 such images in one launch per pass, as the GPU row stage runs them.
  const int n = opt.quick ? 8 : 30;
  const int64_t in_bytes = static_cast<int64_t>(pixels.size());
  std::vector<uint8_t> batch_in;
  for (int i = 0; i < n; ++i) batch_in.insert(batch_in.end(), pixels.begin(), pixels.end());
  for (ResizeFilter f : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) {
    const ResizePlan plan = make_resize_plan(in_h, in_w, S, S, f);
    std::vector<ResizeBatchItem> items(static_cast<size_t>(n));
    std::vector<int32_t> table;
    for (int i = 0; i < n; ++i) {
      ResizeBatchItem& it = items[static_cast<size_t>(i)];
      it.g = plan.g;
      it.in_offset = i * in_bytes;
      it.out_offset = int64_t{i} * S * S * 3;
      it.table_offset = static_cast<int64_t>(table.size());
      table.insert(table.end(), plan.table.begin(), plan.table.end());
    }
    const ResizeBatchGrid grid = resize_batch_plan(items.data(), n);
    const std::string name = std::string("resize_preprocess batch ") + resize_filter_name(f) + " " +
                             std::to_string(n) + "x 500x375->224 f32";
    const double bytes = static_cast<double>(n) * (static_cast<double>(in_bytes) + double{S} * S * 3 * 4);
    if (opt.cpu) {
      Tensor out = Tensor::empty(Shape{n, S, S, 3}, DType::F32);
      const double ms = bench::median_ms(Device::cpu(), [&] {
        resize_preprocess_batch(Device::cpu(), DType::F32, out.raw(), nullptr, batch_in.data(), table.data(),
                                items.data(), n, grid, PixelTransform::Caffe, nullptr);
      }, opt);
      bench::report(name, Device::cpu(), ms, bytes, 0);
    }
    if (!bench::skip_gpu(opt, name)) {
#if VGGTL_HAVE_CUDA
      const Device gpu = Device::cuda();
      auto upload = [&](const void* p, size_t size) {
        return to_device(Tensor::wrap(const_cast<void*>(p), Shape{static_cast<int64_t>(size)}, DType::U8), gpu);
      };
      Tensor in_d = upload(batch_in.data(), batch_in.size());
      Tensor table_d = upload(table.data(), table.size() * sizeof(int32_t));
      Tensor items_d = upload(items.data(), items.size() * sizeof(ResizeBatchItem));
      Tensor tmp = Tensor::empty(Shape{grid.tmp_bytes + 1}, DType::U8, gpu);
      Tensor out_d = Tensor::empty(Shape{n, S, S, 3}, DType::F32, gpu);
      Stream s = main_stream(gpu);
      const double ms = bench::median_ms(gpu, [&] {
        resize_preprocess_batch_cuda(out_d.data<float>(), tmp.data<uint8_t>(), in_d.data<uint8_t>(),
                                     reinterpret_cast<const int32_t*>(table_d.raw()),
                                     reinterpret_cast<const ResizeBatchItem*>(items_d.raw()), n, grid,
                                     PixelTransform::Caffe, s);
      }, opt);
      bench::report(name, gpu, ms, bytes, 0, "one launch per pass", &opt);
#endif
    }
  }
  return 0;
}
