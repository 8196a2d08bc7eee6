// Keras MaxPooling2D((2,2), strides=(2,2), padding='valid'): x (N,H,W,C) -> y (N,H/2,W/2,C),
// NHWC, f32 or bf16 (the output keeps the input's dtype; f64 on the CPU for gradient checks). No
// params. Backward (f32, f64; bf16 on the CPU) sends each gradient to its window's first maximum,
// as TensorFlow.
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
  // Keeps x when keep_for_backward(): backward finds each window's maximum again.
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  void backward(const Tensor& dy, Tensor* dx) override;
  bool image_by_image() const override { return !device_.is_cuda() && !keep_for_backward(); }

 private:
  Tensor x_;
};

}  // namespace vggtl
