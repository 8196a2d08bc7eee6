// CPU twins of the conversions (the specification, plain loops) and the tensor-level dispatch.
#include "engine/context.h"
#include "kernels/convert.h"
#include "kernels/vec16.h"

namespace vggtl {

template <typename To, typename From>
void convert_cpu(To* y, const From* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = from_float<To>(to_float(x[i]));
}

template <typename To, typename From>
void pad_channels_cpu(To* y, const From* x, int64_t m, int64_t c, int64_t cp) {
  for (int64_t p = 0; p < m; ++p)
    for (int64_t k = 0; k < cp; ++k) y[p * cp + k] = k < c ? from_float<To>(to_float(x[p * c + k])) : To{};
}

template <typename To>
void hwio_to_krsc_cpu(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp) {
  for (int64_t ko = 0; ko < k; ++ko)
    for (int64_t ri = 0; ri < r; ++ri)
      for (int64_t si = 0; si < s; ++si)
        for (int64_t ci = 0; ci < cp; ++ci)
          y[((ko * r + ri) * s + si) * cp + ci] =
              ci < c ? from_float<To>(w[((ri * s + si) * c + ci) * k + ko]) : To{};
}

void krsc_to_hwio_cpu(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k) {
  for (int64_t ri = 0; ri < r; ++ri)
    for (int64_t si = 0; si < s; ++si)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t ko = 0; ko < k; ++ko) y[((ri * s + si) * c + ci) * k + ko] = w[((ko * r + ri) * s + si) * c + ci];
}

#define VGGTL_CONVERT_PAIR(To, From)                                             \
  template void convert_cpu<To, From>(To*, const From*, int64_t);                \
  template void pad_channels_cpu<To, From>(To*, const From*, int64_t, int64_t, int64_t);
VGGTL_CONVERT_PAIR(float, float)
VGGTL_CONVERT_PAIR(bf16, float)
VGGTL_CONVERT_PAIR(float, bf16)
VGGTL_CONVERT_PAIR(bf16, bf16)
#undef VGGTL_CONVERT_PAIR
template void convert_cpu<f16, float>(f16*, const float*, int64_t);
template void convert_cpu<float, f16>(float*, const f16*, int64_t);
template void hwio_to_krsc_cpu<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void hwio_to_krsc_cpu<bf16>(bf16*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t);

namespace {

void check_activation_dtype(const Tensor& t, const char* what) {
  VGGTL_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16, what, ": expected f32 or bf16, got ",
              t.str());
}

// Calls f(To*, const From*) with the tensors' element types.
template <typename F>
void with_types(Tensor& y, const Tensor& x, F f) {
  const bool yf = y.dtype() == DType::F32, xf = x.dtype() == DType::F32;
  if (yf && xf) f(y.data<float>(), x.data<float>());
  else if (yf) f(y.data<float>(), x.data<bf16>());
  else if (xf) f(y.data<bf16>(), x.data<float>());
  else f(y.data<bf16>(), x.data<bf16>());
}

}  // namespace

void convert(Tensor& y, const Tensor& x) {
  VGGTL_CHECK(x.numel() == y.numel() && x.device() == y.device(), "convert: ", x.str(), " -> ", y.str());
  if (x.dtype() == y.dtype()) {
    copy(y, x);
    return;
  }
  if (x.dtype() == DType::F64 || y.dtype() == DType::F64) {
    // f64 models exist on the CPU only (gradient checks through the float code paths).
    VGGTL_CHECK(!x.is_cuda(), "convert: f64 tensors live on the CPU, got ", x.str(), " -> ", y.str());
    if (x.dtype() == DType::F32 && y.dtype() == DType::F64) {
      for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = x.data<float>()[i];
      return;
    }
    VGGTL_CHECK(x.dtype() == DType::F64 && y.dtype() == DType::F32, "convert: ", x.str(), " -> ", y.str());
    for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = static_cast<float>(x.data<double>()[i]);
    return;
  }
  // The element-wise conversion on y's device, for one pair of element types.
  auto run = [&](auto* yp, const auto* xp) {
    if (y.is_cuda()) {
      convert_cuda(yp, xp, x.numel(), main_stream(y.device()));
      return;
    }
    convert_cpu(yp, xp, x.numel());
  };
  if (x.dtype() == DType::F16 || y.dtype() == DType::F16) {
    // The f16 feature cache: f32 -> f16 when stored, f16 -> f32 when batched.
    const bool widen = x.dtype() == DType::F16 && y.dtype() == DType::F32;
    VGGTL_CHECK(widen || (x.dtype() == DType::F32 && y.dtype() == DType::F16), "convert: ", x.str(), " -> ",
                y.str());
    if (widen) run(y.data<float>(), x.data<f16>());
    else run(y.data<f16>(), x.data<float>());
    return;
  }
  check_activation_dtype(x, "convert input");
  check_activation_dtype(y, "convert output");
  with_types(y, x, run);
}

void pad_channels(Tensor& y, const Tensor& x) {
  check_activation_dtype(x, "pad_channels input");
  check_activation_dtype(y, "pad_channels output");
  VGGTL_CHECK(x.ndim() >= 1 && y.ndim() == x.ndim() && x.device() == y.device(), "pad_channels: ",
              x.str(), " -> ", y.str());
  for (int i = 0; i + 1 < x.ndim(); ++i)
    VGGTL_CHECK(x.dim(i) == y.dim(i), "pad_channels: leading dimensions differ: ", x.str(), " -> ", y.str());
  const int64_t c = x.dim(-1), cp = y.dim(-1);
  VGGTL_CHECK(cp >= c, "pad_channels: cannot pad ", c, " channels to ", cp);
  const int64_t m = c ? x.numel() / c : 0;
  with_types(y, x, [&](auto* yp, const auto* xp) {
    if (y.is_cuda()) {
      pad_channels_cuda(yp, xp, m, c, cp, main_stream(y.device()));
      return;
    }
    pad_channels_cpu(yp, xp, m, c, cp);
  });
}

void hwio_to_krsc(Tensor& y, const Tensor& w) {
  VGGTL_CHECK(w.dtype() == DType::F32 && w.ndim() == 4, "hwio_to_krsc: kernel must be f32 (R,S,C,K), got ",
              w.str());
  check_activation_dtype(y, "hwio_to_krsc output");
  const int64_t r = w.dim(0), s = w.dim(1), c = w.dim(2), k = w.dim(3);
  VGGTL_CHECK(y.ndim() == 4 && y.dim(0) == k && y.dim(1) == r && y.dim(2) == s && y.dim(3) >= c &&
                  y.device() == w.device(),
              "hwio_to_krsc: ", w.str(), " -> ", y.str());
  const int64_t cp = y.dim(3);
  auto run = [&](auto* yp) {
    if (y.is_cuda()) {
      hwio_to_krsc_cuda(yp, w.data<float>(), r, s, c, k, cp, main_stream(y.device()));
      return;
    }
    hwio_to_krsc_cpu(yp, w.data<float>(), r, s, c, k, cp);
  };
  if (y.dtype() == DType::F32) run(y.data<float>());
  else run(y.data<bf16>());
}

void krsc_to_hwio(Tensor& y, const Tensor& w) {
  VGGTL_CHECK(w.dtype() == DType::F32 && w.ndim() == 4 && y.dtype() == DType::F32 && y.ndim() == 4 &&
                  y.device() == w.device(),
              "krsc_to_hwio: ", w.str(), " -> ", y.str());
  const int64_t k = w.dim(0), r = w.dim(1), s = w.dim(2), c = w.dim(3);
  VGGTL_CHECK(y.dim(0) == r && y.dim(1) == s && y.dim(2) == c && y.dim(3) == k, "krsc_to_hwio: ", w.str(), " -> ",
              y.str());
  if (y.is_cuda()) {
    krsc_to_hwio_cuda(y.data<float>(), w.data<float>(), r, s, c, k, main_stream(y.device()));
    return;
  }
  krsc_to_hwio_cpu(y.data<float>(), w.data<float>(), r, s, c, k);
}

}  // namespace vggtl
