// CPU twin of the 2x2 max-pool (the specification) and the tensor-level dispatch.
#include "engine/context.h"
#include "kernels/maxpool2d.h"
#include "kernels/maxpool2d_thread.h"

namespace vggtl {

template <typename T>
void maxpool2d_forward_cpu(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t ho = h / 2, wo = w / 2;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t k = 0; k < c; ++k) {
          float m = to_float(x[((b * h + 2 * i) * w + 2 * j) * c + k]);
          for (int64_t di = 0; di < 2; ++di)
            for (int64_t dj = 0; dj < 2; ++dj) m = max_nan(m, to_float(x[((b * h + 2 * i + di) * w + 2 * j + dj) * c + k]));
          y[((b * ho + i) * wo + j) * c + k] = from_float<T>(m);
        }
}

// f64 (the layer's gradient-check path): the same maximum, NaN kept, without the float round trip.
template <>
void maxpool2d_forward_cpu<double>(double* y, const double* x, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t ho = h / 2, wo = w / 2;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t k = 0; k < c; ++k) {
          double m = x[((b * h + 2 * i) * w + 2 * j) * c + k];
          for (int64_t di = 0; di < 2; ++di)
            for (int64_t dj = 0; dj < 2; ++dj) {
              const double v = x[((b * h + 2 * i + di) * w + 2 * j + dj) * c + k];
              if (v > m || v != v) m = v;
            }
          y[((b * ho + i) * wo + j) * c + k] = m;
        }
}

template <typename T>
void maxpool2d_backward_cpu(T* dx, const T* dy, const T* x, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t ho = h / 2, wo = w / 2;
  for (int64_t e = 0; e < n * h * w * c; ++e) dx[e] = T(0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t k = 0; k < c; ++k) {
          const int64_t top_left = ((b * h + 2 * i) * w + 2 * j) * c + k;
          const int q = maxpool2d_window_argmax(x + top_left, c, w * c);
          dx[top_left + (q / 2) * w * c + (q % 2) * c] = dy[((b * ho + i) * wo + j) * c + k];
        }
}

template <>
void maxpool2d_backward_cpu<bf16>(bf16* dx, const bf16* dy, const bf16* x, int64_t n, int64_t h, int64_t w,
                                  int64_t c) {
  const int64_t ho = h / 2, wo = w / 2;
  for (int64_t e = 0; e < n * h * w * c; ++e) dx[e] = bf16{0};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t k = 0; k < c; ++k) {
          const int64_t top_left = ((b * h + 2 * i) * w + 2 * j) * c + k;
          const float v[4] = {bf16_to_float(x[top_left]), bf16_to_float(x[top_left + c]),
                              bf16_to_float(x[top_left + w * c]), bf16_to_float(x[top_left + w * c + c])};
          const int q = maxpool2d_window_argmax(v, 1, 2);
          dx[top_left + (q / 2) * w * c + (q % 2) * c] = dy[((b * ho + i) * wo + j) * c + k];
        }
}

template void maxpool2d_backward_cpu<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void maxpool2d_backward_cpu<double>(double*, const double*, const double*, int64_t, int64_t, int64_t,
                                             int64_t);
template void maxpool2d_forward_cpu<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void maxpool2d_forward_cpu<bf16>(bf16*, const bf16*, int64_t, int64_t, int64_t, int64_t);

void maxpool2d_forward(Tensor& y, const Tensor& x) {
  VGGTL_CHECK(x.ndim() == 4 && (x.dtype() == DType::F32 || x.dtype() == DType::BF16 ||
                                 (x.dtype() == DType::F64 && !x.is_cuda())),
              "maxpool2d: expected (N,H,W,C) f32 or bf16 (or f64 on the CPU), got ", x.str());
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  VGGTL_CHECK(y.dtype() == x.dtype() && y.shape() == Shape({n, h / 2, w / 2, c}) && y.device() == x.device(),
              "maxpool2d: ", x.str(), " -> ", y.str());
  if (x.dtype() == DType::F64) {
    maxpool2d_forward_cpu(y.data<double>(), x.data<double>(), n, h, w, c);
    return;
  }
  auto run = [&](auto* yp, const auto* xp) {
    if (x.is_cuda()) {
      maxpool2d_forward_cuda(yp, xp, n, h, w, c, main_stream(x.device()));
      return;
    }
    maxpool2d_forward_cpu(yp, xp, n, h, w, c);
  };
  if (x.dtype() == DType::F32) run(y.data<float>(), x.data<float>());
  else if (!x.is_cuda()) maxpool2d_forward_onednn(y.data<bf16>(), x.data<bf16>(), n, h, w, c);
  else run(y.data<bf16>(), x.data<bf16>());
}

void maxpool2d_backward(Tensor& dx, const Tensor& dy, const Tensor& x) {
  VGGTL_CHECK(x.ndim() == 4 && (x.dtype() == DType::F32 ||
                                 ((x.dtype() == DType::F64 || x.dtype() == DType::BF16) && !x.is_cuda())),
              "maxpool2d_backward: expected (N,H,W,C) f32 (or f64 or bf16 on the CPU), got ", x.str());
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  VGGTL_CHECK(dy.dtype() == x.dtype() && dy.shape() == Shape({n, h / 2, w / 2, c}) && dy.device() == x.device() &&
                  dx.dtype() == x.dtype() && dx.shape() == x.shape() && dx.device() == x.device(),
              "maxpool2d_backward: dy ", dy.str(), ", x ", x.str(), " -> dx ", dx.str());
  if (x.dtype() == DType::F64) {
    maxpool2d_backward_cpu(dx.data<double>(), dy.data<double>(), x.data<double>(), n, h, w, c);
  } else if (x.dtype() == DType::BF16) {
    maxpool2d_backward_cpu(dx.data<bf16>(), dy.data<bf16>(), x.data<bf16>(), n, h, w, c);
  } else if (x.is_cuda()) {
    maxpool2d_backward_cuda(dx.data<float>(), dy.data<float>(), x.data<float>(), n, h, w, c, main_stream(x.device()));
  } else {
    maxpool2d_backward_cpu(dx.data<float>(), dy.data<float>(), x.data<float>(), n, h, w, c);
  }
}

}  // namespace vggtl
