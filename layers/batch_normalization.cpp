// BatchNormalization over kernels/batchnorm.
#include "layers/batch_normalization.h"

#include "kernels/batchnorm.h"
#include "layers/buffers.h"
#include "layers/param_init.h"

namespace vggtl {

BatchNormalization::BatchNormalization(std::string name, int64_t features, double momentum,
                                       double epsilon)
    : Layer(std::move(name)), features_(features), momentum_(momentum), epsilon_(epsilon) {
  VGGTL_CHECK(features > 0, "BatchNormalization '", name_, "': ", features, " features");
  VGGTL_CHECK(momentum >= 0 && momentum <= 1 && epsilon > 0, "BatchNormalization '", name_,
              "': momentum ", momentum, ", epsilon ", epsilon);
  params_.push_back(Param{"gamma", Shape{features}, true, {}, {}});
  params_.push_back(Param{"beta", Shape{features}, true, {}, {}});
  params_.push_back(Param{"moving_mean", Shape{features}, false, {}, {}});
  params_.push_back(Param{"moving_variance", Shape{features}, false, {}, {}});
}

Shape BatchNormalization::output_shape(const Shape& in) const {
  VGGTL_CHECK(in.ndim() == 2 && in[1] == features_, "BatchNormalization '", name_, "' expects (N, ",
              features_, "), got ", in.str());
  return in;
}

DType BatchNormalization::input_dtype(DType in) const {
  return in == DType::F64 ? DType::F64 : DType::F32;
}

void BatchNormalization::forward(const Tensor& x, Tensor& y, const Pass& pass) {
  Param& gamma = params_[0];
  VGGTL_CHECK(gamma.value.defined(), "BatchNormalization '", name_, "' is not built");
  VGGTL_CHECK(x.dtype() == gamma.value.dtype(), "BatchNormalization '", name_, "': input ", x.str(),
              " but gamma ", gamma.value.str());
  VGGTL_CHECK(y.shape() == output_shape(x.shape()), "BatchNormalization '", name_, "': output ",
              y.str());
  const Device dev = x.device();
  Tensor mean = reuse_buffer(mean_, Shape{features_}, x.dtype(), dev);
  Tensor inv_std = reuse_buffer(inv_std_, Shape{features_}, x.dtype(), dev);
  batch_stats_ = pass.mode == Mode::Train && !frozen_;
  if (batch_stats_) {
    batchnorm_train_forward(y, mean, inv_std, params_[2].value, params_[3].value, x, gamma.value,
                            params_[1].value, epsilon_, 1.0 - momentum_);
  } else {
    batchnorm_eval_forward(y, mean, inv_std, x, gamma.value, params_[1].value, params_[2].value,
                           params_[3].value, epsilon_);
  }
  if (keep_for_backward()) x_ = x;
}

void BatchNormalization::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(x_.defined(), "BatchNormalization '", name_, "': backward without a kept forward");
  Param& gamma = params_[0];
  Param& beta = params_[1];
  batchnorm_backward(dx, gamma.trainable() ? &gamma.grad : nullptr,
                     beta.trainable() ? &beta.grad : nullptr, dy, x_, gamma.value,
                     mean_.view(0, Shape{features_}), inv_std_.view(0, Shape{features_}),
                     batch_stats_);
}

void BatchNormalization::initialize(uint64_t) {
  fill_constant(params_[0].value, 1.0);
  fill_constant(params_[1].value, 0.0);
  fill_constant(params_[2].value, 0.0);
  fill_constant(params_[3].value, 1.0);
}

}  // namespace vggtl
