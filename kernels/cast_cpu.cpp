// Type conversion on the CPU and the dispatch by (source, destination) dtype and device.
#include "engine/context.h"
#include "kernels/cast.h"

namespace vggtl {

void cast_f32_to_bf16_cpu(bf16* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}

void cast_bf16_to_f32_cpu(float* y, const bf16* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}

void cast(Tensor& dst, const Tensor& src) {
  VGGTL_CHECK(dst.device() == src.device() && dst.numel() == src.numel(), "cast: ", src.str(),
              " -> ", dst.str());
  const DType from = src.dtype(), to = dst.dtype();
  const int64_t n = src.numel();
  if (from == to) {
    copy(dst, src);
    return;
  }
  if (from == DType::F32 && to == DType::BF16) {
    if (dst.is_cuda()) {
#if VGGTL_HAVE_CUDA
      cast_f32_to_bf16_cuda(dst.data<bf16>(), src.data<float>(), n, main_stream(dst.device()));
      return;
#endif
    }
    cast_f32_to_bf16_cpu(dst.data<bf16>(), src.data<float>(), n);
    return;
  }
  if (from == DType::BF16 && to == DType::F32) {
    if (dst.is_cuda()) {
#if VGGTL_HAVE_CUDA
      cast_bf16_to_f32_cuda(dst.data<float>(), src.data<bf16>(), n, main_stream(dst.device()));
      return;
#endif
    }
    cast_bf16_to_f32_cpu(dst.data<float>(), src.data<bf16>(), n);
    return;
  }
  VGGTL_CHECK(!dst.is_cuda(), "cast: ", dtype_name(from), " -> ", dtype_name(to),
              " is not supported on ", dst.device().str());
  if (from == DType::F32 && to == DType::F64) {
    const float* x = src.data<float>();
    double* y = dst.data<double>();
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<double>(x[i]);
    return;
  }
  if (from == DType::F64 && to == DType::F32) {
    const double* x = src.data<double>();
    float* y = dst.data<float>();
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
    return;
  }
  VGGTL_FAIL("cast: ", dtype_name(from), " -> ", dtype_name(to), " is not supported");
}

}  // namespace vggtl
