// Dense (Keras): y = activation(x @ kernel + bias), x (N, in), kernel (in, units) in Keras's
// layout, bias (units); the activation is none or ReLU (Keras fuses it into the layer, e.g.
// FC_2 = Dense(64, activation='relu')). F32 on any device, F64 on the CPU (gradient checks).
// Tested in tests/layers/test_gradcheck.cpp, test_layers.cpp and test_layers_gpu.cpp.
#pragma once

#include "layers/layer.h"

namespace vggtl {

enum class Activation { None, ReLU };

class Dense : public Layer {
 public:
  Dense(std::string name, int64_t in_features, int64_t units,
        Activation activation = Activation::None);

  const char* type() const override { return "Dense"; }
  Shape output_shape(const Shape& in) const override;
  DType input_dtype(DType in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  // kernel grad = x^T dz, bias grad = column sums of dz, dx = dz kernel^T, where dz = dy masked
  // by the ReLU (y > 0) or dy itself.
  void backward(const Tensor& dy, Tensor* dx) override;
  void initialize(uint64_t seed) override;  // glorot-uniform kernel, zero bias

  int64_t in_features() const { return in_; }
  int64_t units() const { return units_; }
  Activation activation() const { return activation_; }

 private:
  int64_t in_, units_;
  Activation activation_;
  Tensor x_, y_;     // saved by forward when keep_for_backward()
  Tensor dz_store_;  // the ReLU-masked dy, reused across steps
};

}  // namespace vggtl
