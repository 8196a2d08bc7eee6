// Bias add and column sums on the CPU (sums in double), and the tensor-level dispatch.
#include <vector>

#include "engine/context.h"
#include "kernels/bias.h"

namespace vggtl {

template <typename T>
void bias_add_cpu(T* y, const T* x, const T* b, int64_t rows, int64_t cols, bool relu) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const T v = x[r * cols + c] + b[c];
      y[r * cols + c] = (relu && v < T(0)) ? T(0) : v;
    }
  }
}

template <typename T>
void bias_grad_cpu(T* db, const T* dy, int64_t rows, int64_t cols) {
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(dy[r * cols + c]);
  for (int64_t c = 0; c < cols; ++c) db[c] = static_cast<T>(acc[c]);
}

void bias_grad_cpu(float* db, const bf16* dy, int64_t rows, int64_t cols) {
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(bf16_to_float(dy[r * cols + c]));
  for (int64_t c = 0; c < cols; ++c) db[c] = static_cast<float>(acc[c]);
}

template void bias_add_cpu<float>(float*, const float*, const float*, int64_t, int64_t, bool);
template void bias_add_cpu<double>(double*, const double*, const double*, int64_t, int64_t, bool);
template void bias_grad_cpu<float>(float*, const float*, int64_t, int64_t);
template void bias_grad_cpu<double>(double*, const double*, int64_t, int64_t);

void bias_add(Tensor& y, const Tensor& x, const Tensor& b, bool relu) {
  VGGTL_CHECK(x.device() == y.device() && b.device() == y.device(), "bias_add: devices differ");
  VGGTL_CHECK(x.dtype() == y.dtype() && b.dtype() == y.dtype(),
              "bias_add: dtypes differ: ", x.str(), ", ", b.str(), ", ", y.str());
  VGGTL_CHECK(x.shape() == y.shape() && x.ndim() >= 1 && b.numel() == x.cols(),
              "bias_add: shapes ", x.str(), ", ", b.str(), ", ", y.str());
  const int64_t rows = x.rows(), cols = x.cols();
  if (y.dtype() == DType::F64) {
    VGGTL_CHECK(!y.is_cuda(), "bias_add: f64 runs on the CPU only");
    bias_add_cpu(y.data<double>(), x.data<double>(), b.data<double>(), rows, cols, relu);
  } else if (y.is_cuda()) {
    bias_add_cuda(y.data<float>(), x.data<float>(), b.data<float>(), rows, cols, relu,
                  main_stream(y.device()));
  } else {
    bias_add_cpu(y.data<float>(), x.data<float>(), b.data<float>(), rows, cols, relu);
  }
}

void bias_grad(Tensor& db, const Tensor& dy) {
  VGGTL_CHECK(db.device() == dy.device() &&
                  (db.dtype() == dy.dtype() ||
                   (db.dtype() == DType::F32 && dy.dtype() == DType::BF16 && !dy.is_cuda())),
              "bias_grad: ", db.str(), " from ", dy.str());
  VGGTL_CHECK(dy.ndim() >= 1 && db.numel() == dy.cols(), "bias_grad: shapes ", dy.str(), ", ",
              db.str());
  const int64_t rows = dy.rows(), cols = dy.cols();
  if (db.dtype() == DType::F64) {
    VGGTL_CHECK(!db.is_cuda(), "bias_grad: f64 runs on the CPU only");
    bias_grad_cpu(db.data<double>(), dy.data<double>(), rows, cols);
  } else if (dy.dtype() == DType::BF16) {
    bias_grad_cpu(db.data<float>(), dy.data<bf16>(), rows, cols);
  } else if (db.is_cuda()) {
    bias_grad_cuda(db.data<float>(), dy.data<float>(), rows, cols, main_stream(db.device()));
  } else {
    bias_grad_cpu(db.data<float>(), dy.data<float>(), rows, cols);
  }
}

}  // namespace vggtl
