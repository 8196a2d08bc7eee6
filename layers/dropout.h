// Dropout (Keras, inverted): in training y = x * 1/(1-rate) * [u >= rate] with u drawn from
// Philox keyed by (Pass::seed, kRngDropout, Pass::step, element index + a per-layer offset), so
// CPU and GPU drop the same elements and two dropout layers draw differently (the element index
// counts from Pass::row_offset, so a data-parallel process draws its rows' part of the whole
// batch's mask); the identity in
// evaluation. Backward redraws the mask instead of storing it. Tested in
// tests/layers/test_gradcheck.cpp, test_layers.cpp and test_layers_gpu.cpp.
#pragma once

#include "layers/layer.h"

namespace vggtl {

class Dropout : public Layer {
 public:
  Dropout(std::string name, float rate);
  const char* type() const override { return "Dropout"; }
  Shape output_shape(const Shape& in) const override { return in; }
  DType input_dtype(DType in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  void backward(const Tensor& dy, Tensor* dx) override;

  float rate() const { return rate_; }
  // Element offset of this layer's draws: the layer index in the top 24 bits of the 64-bit
  // element counter, so layers never overlap below 2^40 elements per batch.
  uint64_t rng_offset() const { return static_cast<uint64_t>(index_) << 40; }

 private:
  float rate_;
  bool active_ = false;  // the last forward dropped (training, rate > 0)
  Pass pass_;
  uint64_t offset_ = 0;  // element counter of the last forward's first value
};

}  // namespace vggtl
