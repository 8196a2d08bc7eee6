// Dropout on the CPU (one Philox draw per element, the plain form of the definition) and the
// tensor-level dispatch.
#include "engine/context.h"
#include "kernels/dropout.h"

namespace vggtl {

template <typename T>
void dropout_cpu(T* y, const T* x, int64_t n, float rate, uint64_t seed, uint32_t step,
                 uint64_t offset) {
  const T scale = static_cast<T>(dropout_scale(rate));
  for (int64_t i = 0; i < n; ++i) {
    const float u = philox_uniform(seed, kRngDropout, step, offset + static_cast<uint64_t>(i));
    y[i] = u >= rate ? x[i] * scale : T(0);
  }
}

template void dropout_cpu<float>(float*, const float*, int64_t, float, uint64_t, uint32_t,
                                 uint64_t);
template void dropout_cpu<double>(double*, const double*, int64_t, float, uint64_t, uint32_t,
                                  uint64_t);

void dropout(Tensor& y, const Tensor& x, float rate, uint64_t seed, uint32_t step,
             uint64_t offset) {
  VGGTL_CHECK(x.device() == y.device() && x.dtype() == y.dtype() && x.numel() == y.numel(),
              "dropout: ", x.str(), " -> ", y.str());
  VGGTL_CHECK(rate >= 0.f && rate < 1.f, "dropout: rate ", rate, " is not in [0, 1)");
  VGGTL_CHECK(offset % 4 == 0, "dropout: offset ", offset, " is not a multiple of 4");
  if (y.dtype() == DType::F64) {
    VGGTL_CHECK(!y.is_cuda(), "dropout: f64 runs on the CPU only");
    dropout_cpu(y.data<double>(), x.data<double>(), y.numel(), rate, seed, step, offset);
  } else if (y.is_cuda()) {
    dropout_cuda(y.data<float>(), x.data<float>(), y.numel(), rate, seed, step, offset,
                 main_stream(y.device()));
  } else {
    dropout_cpu(y.data<float>(), x.data<float>(), y.numel(), rate, seed, step, offset);
  }
}

}  // namespace vggtl
