// Buffer reuse and value helpers (see buffers.h).
#include "layers/buffers.h"

namespace vggtl {

Tensor reuse_buffer(Tensor& storage, const Shape& shape, DType dtype, Device device) {
  const int64_t n = shape.numel();
  if (!storage.defined() || storage.dtype() != dtype || storage.device() != device ||
      storage.numel() < n) {
    storage = Tensor();  // release first so that the allocator can reuse the block
    storage = Tensor::empty(Shape{n}, dtype, device);
  }
  return storage.view(0, shape);
}

Shape with_batch(const Shape& sample, int64_t n) {
  std::vector<int64_t> dims = sample.vec();
  dims.insert(dims.begin(), n);
  return Shape(dims);
}

Shape without_batch(const Shape& shape) {
  std::vector<int64_t> dims = shape.vec();
  VGGTL_CHECK(!dims.empty(), "shape ", shape.str(), " has no batch dimension");
  dims.erase(dims.begin());
  return Shape(dims);
}

std::vector<double> read_values(const Tensor& t) {
  Tensor h = t;
  if (t.is_cuda()) {
    h = Tensor::empty(t.shape(), t.dtype());
    copy(h, t);
    synchronize(t.device());
  }
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::F64) {
    const double* p = h.data<double>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    const float* p = h.data<float>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(p[i]);
  }
  return v;
}

void write_values(Tensor& t, const std::vector<double>& values) {
  VGGTL_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "write_values: ", values.size(),
              " values for ", t.str());
  Tensor h = t.is_cuda() ? Tensor::empty(t.shape(), t.dtype()) : t;
  if (t.dtype() == DType::F64) {
    double* p = h.data<double>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  } else {
    float* p = h.data<float>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<float>(values[i]);
  }
  if (t.is_cuda()) {
    copy(t, h);
    synchronize(t.device());
  }
}

}  // namespace vggtl
