// ReLU on the CPU and the tensor-level dispatch.
#include "engine/context.h"
#include "kernels/relu.h"

namespace vggtl {

template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
}

template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = dy[i];  // read unconditionally, so that the loop vectorises
    dx[i] = y[i] > T(0) ? g : T(0);
  }
}

template <>
void relu_backward_cpu<bf16>(bf16* dx, const bf16* dy, const bf16* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = bf16_to_float(y[i]) > 0.f ? dy[i] : bf16{0};
}

template void relu_forward_cpu<float>(float*, const float*, int64_t);
template void relu_forward_cpu<double>(double*, const double*, int64_t);
template void relu_backward_cpu<float>(float*, const float*, const float*, int64_t);
template void relu_backward_cpu<double>(double*, const double*, const double*, int64_t);

void relu_forward(Tensor& y, const Tensor& x) {
  VGGTL_CHECK(x.device() == y.device() && x.dtype() == y.dtype() && x.numel() == y.numel(),
              "relu_forward: ", x.str(), " -> ", y.str());
  if (y.dtype() == DType::F64) {
    VGGTL_CHECK(!y.is_cuda(), "relu: f64 runs on the CPU only");
    relu_forward_cpu(y.data<double>(), x.data<double>(), y.numel());
  } else if (y.is_cuda()) {
    relu_forward_cuda(y.data<float>(), x.data<float>(), y.numel(), main_stream(y.device()));
  } else {
    relu_forward_cpu(y.data<float>(), x.data<float>(), y.numel());
  }
}

void relu_backward(Tensor& dx, const Tensor& dy, const Tensor& y) {
  VGGTL_CHECK(dy.device() == dx.device() && y.device() == dx.device(), "relu_backward: devices");
  VGGTL_CHECK(dy.dtype() == dx.dtype() && y.dtype() == dx.dtype() && dy.numel() == dx.numel() &&
                  y.numel() == dx.numel(),
              "relu_backward: ", dy.str(), ", ", y.str(), " -> ", dx.str());
  if (dx.dtype() == DType::F64) {
    VGGTL_CHECK(!dx.is_cuda(), "relu: f64 runs on the CPU only");
    relu_backward_cpu(dx.data<double>(), dy.data<double>(), y.data<double>(), dx.numel());
  } else if (dx.dtype() == DType::BF16) {
    VGGTL_CHECK(!dx.is_cuda(), "relu_backward: bf16 runs on the CPU only");
    relu_backward_cpu(dx.data<bf16>(), dy.data<bf16>(), y.data<bf16>(), dx.numel());
  } else if (dx.is_cuda()) {
    relu_backward_cuda(dx.data<float>(), dy.data<float>(), y.data<float>(), dx.numel(),
                       main_stream(dx.device()));
  } else {
    relu_backward_cpu(dx.data<float>(), dy.data<float>(), y.data<float>(), dx.numel());
  }
}

}  // namespace vggtl
