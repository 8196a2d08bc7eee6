// Dense: GEMM (kernels/gemm), bias and fused ReLU (kernels/bias), backward through
// kernels/relu and kernels/bias.
#include "layers/dense.h"

#include "kernels/bias.h"
#include "kernels/gemm.h"
#include "kernels/relu.h"
#include "layers/buffers.h"
#include "layers/param_init.h"

namespace vggtl {

Dense::Dense(std::string name, int64_t in_features, int64_t units, Activation activation)
    : Layer(std::move(name)), in_(in_features), units_(units), activation_(activation) {
  VGGTL_CHECK(in_features > 0 && units > 0, "Dense '", name_, "': sizes ", in_features, " -> ",
              units);
  params_.push_back(Param{"kernel", Shape{in_features, units}, true, {}, {}});
  params_.push_back(Param{"bias", Shape{units}, true, {}, {}});
}

Shape Dense::output_shape(const Shape& in) const {
  VGGTL_CHECK(in.ndim() == 2 && in[1] == in_, "Dense '", name_, "' expects (N, ", in_, "), got ",
              in.str());
  return Shape{in[0], units_};
}

DType Dense::input_dtype(DType in) const { return in == DType::F64 ? DType::F64 : DType::F32; }

void Dense::forward(const Tensor& x, Tensor& y, const Pass&) {
  const Tensor& w = params_[0].value;
  VGGTL_CHECK(w.defined(), "Dense '", name_, "' is not built");
  VGGTL_CHECK(x.dtype() == w.dtype(), "Dense '", name_, "': input ", x.str(), " but kernel ",
              w.str());
  VGGTL_CHECK(y.shape() == output_shape(x.shape()), "Dense '", name_, "': output ", y.str());
  gemm(y, x, w, false, false);
  bias_add(y, y, params_[1].value, activation_ == Activation::ReLU);
  if (keep_for_backward()) {
    x_ = x;
    y_ = y;
  }
}

void Dense::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(x_.defined(), "Dense '", name_, "': backward without a kept forward");
  VGGTL_CHECK(dy.shape() == y_.shape(), "Dense '", name_, "': dy ", dy.str(), " for y ", y_.str());
  Tensor dz = dy;
  if (activation_ == Activation::ReLU) {
    dz = reuse_buffer(dz_store_, dy.shape(), dy.dtype(), dy.device());
    relu_backward(dz, dy, y_);
  }
  Param& kernel = params_[0];
  Param& bias = params_[1];
  if (kernel.trainable()) gemm(kernel.grad, x_, dz, true, false);
  if (bias.trainable()) bias_grad(bias.grad, dz);
  if (dx) gemm(*dx, dz, kernel.value, false, true);
}

void Dense::initialize(uint64_t seed) {
  glorot_uniform(params_[0].value, seed, static_cast<uint32_t>(index_), in_, units_);
  fill_constant(params_[1].value, 0.0);
}

}  // namespace vggtl
