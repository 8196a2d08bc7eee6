// Keras MaxPooling2D((2,2), strides=(2,2), padding='valid'): x (N,H,W,C) -> y (N,H/2,W/2,C),
// NHWC, f32 or bf16 (the output keeps the input's dtype). No params. Forward only.
// Tested by tests/layers/test_vgg16.cpp (the kernel by tests/kernels/test_maxpool2d.cpp).
#pragma once

#include <string>

#include "layers/layer.h"

namespace vggtl {

class MaxPool2D : public Layer {
 public:
  explicit MaxPool2D(std::string name) : Layer(std::move(name)) {}
  const char* type() const override { return "MaxPooling2D"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  bool has_backward() const override { return false; }  // forward only, for now
};

}  // namespace vggtl
