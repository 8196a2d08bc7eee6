// Flatten (Keras): (N, d1, d2, ...) -> (N, d1*d2*...), keeping the row-major order, which for
// NHWC activations is Keras's (h*W + w)*C + c. Any dtype; backward reshapes dy back.
// Tested in tests/layers/test_layers.cpp.
#pragma once

#include "layers/layer.h"

namespace vggtl {

class Flatten : public Layer {
 public:
  explicit Flatten(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "Flatten"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  void backward(const Tensor& dy, Tensor* dx) override;
};

}  // namespace vggtl
