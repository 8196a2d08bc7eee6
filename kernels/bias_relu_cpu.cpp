// CPU twin of bias + ReLU (the specification) and the tensor-level dispatch.
#include "engine/context.h"
#include "kernels/bias_relu.h"
#include "kernels/bias_relu_thread.h"

namespace vggtl {

template <typename T>
void bias_relu_cpu(T* y, const T* x, const float* b, int64_t m, int64_t c) {
  for (int64_t p = 0; p < m; ++p)
    for (int64_t k = 0; k < c; ++k) y[p * c + k] = from_float<T>(bias_relu_value(to_float(x[p * c + k]), b[k]));
}

template void bias_relu_cpu<float>(float*, const float*, const float*, int64_t, int64_t);
template void bias_relu_cpu<bf16>(bf16*, const bf16*, const float*, int64_t, int64_t);

void bias_relu(Tensor& y, const Tensor& x, const Tensor& b) {
  VGGTL_CHECK((x.dtype() == DType::F32 || x.dtype() == DType::BF16) && y.dtype() == x.dtype() &&
                  y.shape() == x.shape() && x.ndim() >= 1,
              "bias_relu: ", x.str(), " -> ", y.str());
  const int64_t c = x.dim(-1);
  VGGTL_CHECK(b.dtype() == DType::F32 && b.numel() == c, "bias_relu: bias ", b.str(), " for ", c, " channels");
  VGGTL_CHECK(x.device() == y.device() && b.device() == x.device(), "bias_relu: tensors on different devices");
  const int64_t m = c ? x.numel() / c : 0;
  auto run = [&](auto* yp, const auto* xp) {
    if (y.is_cuda()) {
      bias_relu_cuda(yp, xp, b.data<float>(), m, c, main_stream(y.device()));
      return;
    }
    bias_relu_cpu(yp, xp, b.data<float>(), m, c);
  };
  if (x.dtype() == DType::F32) run(y.data<float>(), x.data<float>());
  else run(y.data<bf16>(), x.data<bf16>());
}

}  // namespace vggtl
