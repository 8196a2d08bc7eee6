// BatchNormalization (Keras, axis -1) on (N, features) input: momentum 0.99, epsilon 1e-3; in
// training batch statistics with the BIASED variance, which also feeds the moving variance (the
// non-fused path Keras takes for 2-D input); in evaluation, or whenever the layer is frozen (TF2's
// trainable=False), the moving statistics. With a batch reducer (data-parallel training) the
// batch statistics and the backward's column sums are those of the rows of every process. Weights in Keras order: gamma, beta (learnable),
// moving_mean, moving_variance (not learnable). Tested in tests/layers/test_gradcheck.cpp,
// test_layers.cpp and test_layers_gpu.cpp.
#pragma once

#include <functional>

#include "layers/layer.h"

namespace vggtl {

class BatchNormalization : public Layer {
 public:
  BatchNormalization(std::string name, int64_t features, double momentum = 0.99,
                     double epsilon = 1e-3);

  const char* type() const override { return "BatchNormalization"; }
  Shape output_shape(const Shape& in) const override;
  DType input_dtype(DType in) const override;
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  void backward(const Tensor& dy, Tensor* dx) override;
  void initialize(uint64_t seed) override;  // gamma 1, beta 0, moving mean 0, moving variance 1

  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }

  // Sums `n` doubles element-wise over every process of a data-parallel job, in place. When
  // set, training statistics are synchronised on the host (one reduction for the sums and rows,
  // one for the squared deviations, one in backward).
  using BatchReducer = std::function<void(double* values, size_t n)>;
  void set_batch_reducer(BatchReducer reducer) { reducer_ = std::move(reducer); }

 private:
  void forward_synchronised(const Tensor& x, Tensor& y);
  void backward_synchronised(const Tensor& dy, Tensor* dx);

  BatchReducer reducer_;
  int64_t global_rows_ = 0;
  int64_t features_;
  double momentum_, epsilon_;
  Tensor x_;                  // saved input
  Tensor mean_, inv_std_;     // statistics the last forward used
  bool batch_stats_ = false;  // whether they were the batch's
};

}  // namespace vggtl
