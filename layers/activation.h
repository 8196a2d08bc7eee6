// ReLU as a layer of its own (Keras layers.ReLU): y = max(x, 0); saves y for backward.
// Tested in tests/layers/test_gradcheck.cpp and test_layers_gpu.cpp.
#pragma once

#include "layers/layer.h"

namespace vggtl {

class ReLU : public Layer {
 public:
  explicit ReLU(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "ReLU"; }
  Shape output_shape(const Shape& in) const override { return in; }
  DType input_dtype(DType in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  void backward(const Tensor& dy, Tensor* dx) override;

 private:
  Tensor y_;
};

}  // namespace vggtl
