// Conv2D: parameter handling, the ReLU mask and the bias gradient; the convolutions and their
// device dispatch are kernels/conv2d.h's Conv2dOp.
#include "layers/conv2d.h"

#include "kernels/bias.h"
#include "kernels/relu.h"
#include "layers/buffers.h"
#include "layers/param_init.h"

namespace vggtl {

namespace {

ConvMath conv_math(Precision p) {
  switch (p) {
    case Precision::FP32: return ConvMath::FP32;
    case Precision::TF32: return ConvMath::TF32;
    case Precision::BF16: return ConvMath::BF16;
  }
  return ConvMath::FP32;
}

// The layer's own message for a bad channel count, before its Conv2dOp is made.
int64_t checked_in_channels(const std::string& name, int64_t in_channels, int64_t filters) {
  VGGTL_CHECK(in_channels > 0 && filters > 0, "Conv2D '", name, "': ", in_channels, " -> ", filters, " channels");
  return in_channels;
}

const Tensor& param_value(const Layer& l, const Param& p) {
  VGGTL_CHECK(p.value.defined(), "layer '", l.name(), "': param '", p.name, "' has no value (layer not built)");
  VGGTL_CHECK((p.value.dtype() == DType::F32 || (p.value.dtype() == DType::F64 && !l.device().is_cuda())) &&
                  p.value.shape() == p.shape && p.value.device() == l.device(),
              "layer '", l.name(), "': param '", p.name, "' is ", p.value.str(), ", expected f32", p.shape.str(),
              " on ", l.device().str());
  return p.value;
}

}  // namespace

Conv2D::Conv2D(std::string name, int64_t in_channels, int64_t filters, Precision precision)
    : Layer(std::move(name)), in_channels_(in_channels), filters_(filters), precision_(precision),
      op_(checked_in_channels(name_, in_channels, filters), filters, conv_math(precision)) {
  Param kernel, bias;
  kernel.name = "kernel";
  kernel.shape = Shape{3, 3, in_channels, filters};
  bias.name = "bias";
  bias.shape = Shape{filters};
  params_.push_back(kernel);
  params_.push_back(bias);
}

Conv2D::~Conv2D() = default;

Shape Conv2D::output_shape(const Shape& in) const {
  VGGTL_CHECK(in.ndim() == 4 && in[3] == in_channels_, "Conv2D '", name_, "' expects (N,H,W,", in_channels_,
              "), got ", in.str());
  return Shape{in[0], in[1], in[2], filters_};
}

DType Conv2D::input_dtype(DType in) const {
  // oneDNN's bf16 convolution reads bf16 only; Model converts the f32 image once.
  if (!device_.is_cuda() && precision_ == Precision::BF16 && in == DType::F32) return DType::BF16;
  return in;
}

DType Conv2D::output_dtype(DType in) const {
  if (in == DType::F64 && !device_.is_cuda()) return DType::F64;
  return precision_ == Precision::BF16 ? DType::BF16 : DType::F32;
}

void Conv2D::set_precision(Precision p) {
  precision_ = p;
  op_.set_math(conv_math(p));
}

void Conv2D::initialize(uint64_t seed) {
  param_value(*this, params_[0]);
  param_value(*this, params_[1]);
  he_uniform(params_[0].value, seed, static_cast<uint32_t>(index_), 9 * in_channels_);
  fill_constant(params_[1].value, 0.0);
  params_changed();
}

void Conv2D::params_changed() { op_.weights_changed(); }

bool Conv2D::image_by_image() const {
  return !device_.is_cuda() && !keep_for_backward() && !params_[0].trainable() && !params_[1].trainable();
}

void Conv2D::forward(const Tensor& x, Tensor& y, const Pass&) {
  VGGTL_CHECK(x.device() == device_ && y.device() == device_, "Conv2D '", name_, "' runs on ", device_.str(),
              ", got ", x.str(), " -> ", y.str());
  VGGTL_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::BF16 || (x.dtype() == DType::F64 && !device_.is_cuda()),
              "Conv2D '", name_, "': input ", x.str());
  const Shape out = output_shape(x.shape());
  VGGTL_CHECK(y.shape() == out && y.dtype() == output_dtype(x.dtype()), "Conv2D '", name_, "': output ", y.str(),
              ", expected ", dtype_name(output_dtype(x.dtype())), out.str());
  if (params_[0].trainable() || params_[1].trainable()) params_changed();
  if (keep_for_backward()) {
    x_ = x;
    y_ = y;
  }
  if (x.numel() == 0) return;
  const Tensor& kernel = param_value(*this, params_[0]);
  const Tensor& bias = param_value(*this, params_[1]);
  // The gradient-check path runs the double oracle on f64 weights.
  VGGTL_CHECK(x.dtype() != DType::F64 || kernel.dtype() == DType::F64, "Conv2D '", name_,
              "': f64 input needs f64 weights, got ", kernel.str());
  op_.forward(y, x, kernel, bias);
}

void Conv2D::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(x_.defined() && y_.defined(), "Conv2D '", name_, "': backward without a kept forward");
  VGGTL_CHECK(dy.shape() == y_.shape() && dy.device() == device_, "Conv2D '", name_, "': dy ", dy.str(), " for y ",
              y_.str());
  // bf16 trains on the CPU only (x, y, dy, dz and dx bf16; the weights, their gradients and the
  // optimizer f32): the GPU backward is fp32 (conv2d_backward_cudnn), and apps refuse the pairing.
  VGGTL_CHECK((y_.dtype() != DType::BF16 || !device_.is_cuda()) && x_.dtype() == y_.dtype() &&
                  dy.dtype() == y_.dtype(),
              "Conv2D '", name_, "' cannot be trained through this forward (input ", x_.str(), ", output ", y_.str(),
              ", dy ", dy.str(), "): bf16 trains on the CPU only; run it in fp32 or tf32");
  VGGTL_CHECK(!dx || (dx->shape() == x_.shape() && dx->dtype() == x_.dtype() && dx->device() == device_),
              "Conv2D '", name_, "': dx ", dx->str(), " for x ", x_.str());
  if (dy.numel() == 0) {
    for (Param& p : params_)
      if (p.trainable()) fill_constant(p.grad, 0.0);
    return;
  }
  // The gradient at the pre-activation: dy where the ReLU passed (y > 0), 0 elsewhere; in dy's
  // dtype, since masking is exact (a bf16 dz loses nothing that dy had).
  Tensor dz = reuse_buffer(dz_store_, dy.shape(), dy.dtype(), device_);
  relu_backward(dz, dy, y_);
  Param& bias = params_[1];
  if (bias.trainable()) bias_grad(bias.grad, dz.reshape(Shape{dz.numel() / filters_, filters_}));
  Param& kernel = params_[0];
  op_.backward(dx, kernel.trainable() ? &kernel.grad : nullptr, dz, x_, param_value(*this, kernel));
}

}  // namespace vggtl
