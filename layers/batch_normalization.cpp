// BatchNormalization over kernels/batchnorm.
#include "layers/batch_normalization.h"

#include <cmath>
#include <vector>

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
  if (batch_stats_ && reducer_) {
    forward_synchronised(x, y);
  } else if (batch_stats_) {
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
  if (batch_stats_ && reducer_) {
    backward_synchronised(dy, dx);
    return;
  }
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

namespace {

std::vector<float> host_floats(const Tensor& t) {
  Tensor h = t.is_cuda() ? to_device(t, Device::cpu()) : t;
  if (t.is_cuda()) synchronize(t.device());
  const float* p = h.data<float>();
  return std::vector<float>(p, p + h.numel());
}

void put_floats(Tensor& t, const std::vector<float>& v) {
  Tensor h = Tensor::wrap(const_cast<float*>(v.data()), t.shape(), DType::F32);
  copy(t, h);
  if (t.is_cuda()) synchronize(t.device());
}

}  // namespace

// The statistics of all processes' rows, in double on the host as the kernel's twin computes
// them (mean, then squared deviations from it: two reductions); y from the eval kernel, which
// normalises with given statistics. The head's BatchNorm has 64 columns: the copies are small.
void BatchNormalization::forward_synchronised(const Tensor& x, Tensor& y) {
  VGGTL_CHECK(x.dtype() == DType::F32, "BatchNormalization '", name_, "': synchronised statistics need f32");
  const int64_t rows = x.dim(0), cols = features_;
  const std::vector<float> hx = host_floats(x);
  std::vector<double> sums(static_cast<size_t>(cols) + 1, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) sums[static_cast<size_t>(c)] += hx[static_cast<size_t>(r * cols + c)];
  sums[static_cast<size_t>(cols)] = static_cast<double>(rows);
  reducer_(sums.data(), sums.size());
  global_rows_ = static_cast<int64_t>(sums[static_cast<size_t>(cols)]);
  VGGTL_CHECK(global_rows_ > 0, "BatchNormalization '", name_, "': no rows in the global batch");
  const double n = static_cast<double>(global_rows_);
  std::vector<double> mean(static_cast<size_t>(cols)), sq(static_cast<size_t>(cols), 0.0);
  for (int64_t c = 0; c < cols; ++c) mean[static_cast<size_t>(c)] = sums[static_cast<size_t>(c)] / n;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double d = hx[static_cast<size_t>(r * cols + c)] - mean[static_cast<size_t>(c)];
      sq[static_cast<size_t>(c)] += d * d;
    }
  reducer_(sq.data(), sq.size());
  std::vector<float> mean_f(static_cast<size_t>(cols)), var_f(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    mean_f[static_cast<size_t>(c)] = static_cast<float>(mean[static_cast<size_t>(c)]);
    var_f[static_cast<size_t>(c)] = static_cast<float>(sq[static_cast<size_t>(c)] / n);
  }
  const Device dev = x.device();
  Tensor mean_t = Tensor::empty(Shape{cols}, DType::F32, dev), var_t = Tensor::empty(Shape{cols}, DType::F32, dev);
  put_floats(mean_t, mean_f);
  put_floats(var_t, var_f);
  batchnorm_eval_forward(y, mean_, inv_std_, x, params_[0].value, params_[1].value, mean_t, var_t, epsilon_);
  const float decay = static_cast<float>(1.0 - momentum_);
  for (int k : {2, 3}) {
    std::vector<float> moving = host_floats(params_[static_cast<size_t>(k)].value);
    const std::vector<float>& stat = k == 2 ? mean_f : var_f;
    for (size_t c = 0; c < moving.size(); ++c) moving[c] = bn_moving_update(moving[c], stat[c], decay);
    put_floats(params_[static_cast<size_t>(k)].value, moving);
  }
}

// dx from the global column sums; dgamma and dbeta are this process's sums (the job's gradient
// reduction adds the others').
void BatchNormalization::backward_synchronised(const Tensor& dy, Tensor* dx) {
  const int64_t rows = dy.dim(0), cols = features_;
  const std::vector<float> hdy = host_floats(dy), hx = host_floats(x_);
  const std::vector<float> mean = host_floats(mean_.view(0, Shape{cols}));
  const std::vector<float> inv_std = host_floats(inv_std_.view(0, Shape{cols}));
  const std::vector<float> gamma = host_floats(params_[0].value);
  std::vector<double> sums(2 * static_cast<size_t>(cols), 0.0);
  auto xhat = [&](int64_t r, int64_t c) {
    return (static_cast<double>(hx[static_cast<size_t>(r * cols + c)]) - mean[static_cast<size_t>(c)]) *
           static_cast<double>(inv_std[static_cast<size_t>(c)]);
  };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double g = hdy[static_cast<size_t>(r * cols + c)];
      sums[static_cast<size_t>(c)] += g;
      sums[static_cast<size_t>(cols + c)] += g * xhat(r, c);
    }
  std::vector<float> local_dbeta(static_cast<size_t>(cols)), local_dgamma(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    local_dbeta[static_cast<size_t>(c)] = static_cast<float>(sums[static_cast<size_t>(c)]);
    local_dgamma[static_cast<size_t>(c)] = static_cast<float>(sums[static_cast<size_t>(cols + c)]);
  }
  if (params_[0].trainable()) put_floats(params_[0].grad, local_dgamma);
  if (params_[1].trainable()) put_floats(params_[1].grad, local_dbeta);
  reducer_(sums.data(), sums.size());
  if (!dx) return;
  const double n = static_cast<double>(global_rows_);
  std::vector<float> out(hdy.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double g = hdy[static_cast<size_t>(r * cols + c)];
      const double k = static_cast<double>(gamma[static_cast<size_t>(c)]) * inv_std[static_cast<size_t>(c)] / n;
      out[static_cast<size_t>(r * cols + c)] = static_cast<float>(
          k * (n * g - sums[static_cast<size_t>(c)] - xhat(r, c) * sums[static_cast<size_t>(cols + c)]));
    }
  put_floats(*dx, out);
}

}  // namespace vggtl
