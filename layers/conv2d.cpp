// Conv2D: parameter handling and the device dispatch; the arithmetic is in kernels/conv2d*.
#include "layers/conv2d.h"

#include <atomic>
#include <vector>

#include "engine/log.h"
#include "kernels/bias.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"
#include "kernels/relu.h"
#include "layers/buffers.h"
#include "layers/param_init.h"

namespace vggtl {

namespace {

#if VGGTL_HAVE_CUDA
ConvMath conv_math(Precision p) {
  switch (p) {
    case Precision::FP32: return ConvMath::FP32;
    case Precision::TF32: return ConvMath::TF32;
    case Precision::BF16: return ConvMath::BF16;
  }
  return ConvMath::FP32;
}

// cuDNN's tensor-core kernels want NHWC channels in multiples of 16 bytes' worth of elements
// (4 for tf32, 8 for bf16); conv1_1's 3 channels are padded with zeros (and zero filter taps).
int64_t padded_channels(int64_t c, Precision p) {
  const int64_t m = p == Precision::BF16 ? 8 : p == Precision::TF32 ? 4 : 1;
  return (c + m - 1) / m * m;
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }
#endif

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
    : Layer(std::move(name)), in_channels_(in_channels), filters_(filters), precision_(precision) {
  VGGTL_CHECK(in_channels > 0 && filters > 0, "Conv2D '", name_, "': ", in_channels, " -> ", filters, " channels");
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
  if (p != precision_) gpu_weights_valid_ = false;
  const bool remake = p != precision_ && onednn_;  // its primitives' data type
  precision_ = p;
  if (remake) onednn_ = make_onednn();
}

std::unique_ptr<Conv2dOnednn> Conv2D::make_onednn() const {
  return std::make_unique<Conv2dOnednn>(in_channels_, filters_, true, CpuConvAlgo::Auto,
                                        precision_ == Precision::BF16 ? DType::BF16 : DType::F32);
}

void Conv2D::initialize(uint64_t seed) {
  param_value(*this, params_[0]);
  param_value(*this, params_[1]);
  he_uniform(params_[0].value, seed, static_cast<uint32_t>(index_), 9 * in_channels_);
  fill_constant(params_[1].value, 0.0);
  params_changed();
}

void Conv2D::params_changed() {
  gpu_weights_valid_ = false;
  if (onednn_) onednn_->weights_changed();
}

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
  if (x.dtype() == DType::F64) {
    // The gradient-check path: the double oracle, f64 weights.
    const Tensor& kernel = param_value(*this, params_[0]);
    const Tensor& bias = param_value(*this, params_[1]);
    VGGTL_CHECK(kernel.dtype() == DType::F64, "Conv2D '", name_, "': f64 input needs f64 weights, got ", kernel.str());
    const Conv2dShape s{x.dim(0), x.dim(1), x.dim(2), in_channels_, filters_};
    conv2d_3x3_ref_cpu(y.data<double>(), x.data<double>(), kernel.data<double>(), bias.data<double>(), s, true);
    return;
  }
  if (device_.is_cuda()) forward_cuda(x, y);
  else forward_cpu(x, y);
}

void Conv2D::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(x_.defined() && y_.defined(), "Conv2D '", name_, "': backward without a kept forward");
  VGGTL_CHECK(dy.shape() == y_.shape() && dy.device() == device_, "Conv2D '", name_, "': dy ", dy.str(), " for y ",
              y_.str());
  VGGTL_CHECK(y_.dtype() != DType::BF16 && x_.dtype() == y_.dtype() && dy.dtype() == y_.dtype(), "Conv2D '", name_,
              "' cannot be trained through a bf16 forward (input ", x_.str(), ", output ", y_.str(),
              "): run it in fp32 or tf32");
  VGGTL_CHECK(!dx || (dx->shape() == x_.shape() && dx->dtype() == x_.dtype() && dx->device() == device_),
              "Conv2D '", name_, "': dx ", dx->str(), " for x ", x_.str());
  if (dy.numel() == 0) {
    for (Param& p : params_)
      if (p.trainable()) fill_constant(p.grad, 0.0);
    return;
  }
  // The gradient at the pre-activation: dy where the ReLU passed (y > 0), 0 elsewhere.
  Tensor dz = reuse_buffer(dz_store_, dy.shape(), dy.dtype(), device_);
  relu_backward(dz, dy, y_);
  Param& bias = params_[1];
  if (bias.trainable()) bias_grad(bias.grad, dz.reshape(Shape{dz.numel() / filters_, filters_}));
  if (dz.dtype() == DType::F64) {
    Param& kernel = params_[0];
    const Conv2dShape s{x_.dim(0), x_.dim(1), x_.dim(2), in_channels_, filters_};
    conv2d_3x3_backward_ref_cpu(dx ? dx->data<double>() : nullptr,
                                kernel.trainable() ? kernel.grad.data<double>() : nullptr, nullptr, dz.data<double>(),
                                x_.data<double>(), param_value(*this, kernel).data<double>(), s);
    return;
  }
  if (device_.is_cuda()) backward_cuda(dz, dx);
  else backward_cpu(dz, dx);
}

void Conv2D::backward_cpu(const Tensor& dz, Tensor* dx) {
  if (!onednn_bwd_) onednn_bwd_ = std::make_unique<Conv2dOnednnBackward>(in_channels_, filters_);
  const int64_t n = x_.dim(0), h = x_.dim(1), w = x_.dim(2);
  Param& kernel = params_[0];
  if (kernel.trainable())
    onednn_bwd_->backward_weights(kernel.grad.data<float>(), x_.data<float>(), dz.data<float>(), n, h, w);
  if (dx)
    onednn_bwd_->backward_data(dx->data<float>(), dz.data<float>(), n, h, w, param_value(*this, kernel).data<float>());
}

void Conv2D::backward_cuda(const Tensor& dz, Tensor* dx) {
#if VGGTL_HAVE_CUDA
  Param& kernel = params_[0];
  if (!kernel.trainable() && !dx) return;
  const Conv2dShape s{x_.dim(0), x_.dim(1), x_.dim(2), in_channels_, filters_};
  Context& c = ctx();
  // Workspace: the kernel and its gradient in cuDNN's KRSC layout, then cuDNN's own.
  const size_t filter_bytes = align256(static_cast<size_t>(9 * in_channels_ * filters_) * sizeof(float));
  const size_t conv_bytes = conv2d_backward_cudnn_workspace_bytes(s, device_, c.cudnn());
  char* ws = static_cast<char*>(c.workspace(2 * filter_bytes + conv_bytes));
  const Shape krsc{filters_, 3, 3, in_channels_};
  Tensor w_krsc = Tensor::wrap(ws, krsc, DType::F32, device_);
  Tensor dw_krsc = Tensor::wrap(ws + filter_bytes, krsc, DType::F32, device_);
  if (dx) hwio_to_krsc(w_krsc, param_value(*this, kernel));
  conv2d_backward_cudnn(dx ? dx->data<float>() : nullptr, kernel.trainable() ? dw_krsc.data<float>() : nullptr,
                        dz.data<float>(), x_.data<float>(), w_krsc.data<float>(), s, ws + 2 * filter_bytes,
                        conv_bytes, device_, c.cudnn());
  if (kernel.trainable()) krsc_to_hwio(kernel.grad, dw_krsc);
#else
  VGGTL_FAIL("Conv2D '", name_, "': this build has no CUDA backend (", dz.str(), ")");
#endif
}

void Conv2D::forward_cpu(const Tensor& x, Tensor& y) {
  if (precision_ == Precision::TF32) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) log_info("precision tf32 applies to the GPU only; the CPU convolutions run in fp32");
  }
  const bool bf16_math = precision_ == Precision::BF16;
  if (bf16_math && !cpu_has_bf16())
    throw InputError("--precision bf16 on the CPU: " + cpu_bf16_unsupported_reason() + "; use --precision fp32");
  std::call_once(onednn_made_, [this] { onednn_ = make_onednn(); });
  const Tensor& kernel = param_value(*this, params_[0]);
  const Tensor& bias = param_value(*this, params_[1]);
  if (bf16_math) {
    const bf16* xin = nullptr;
    if (x.dtype() == DType::BF16) {
      xin = x.data<bf16>();
    } else {
      // The calling thread's own buffer, not the shared workspace: image by image, several threads
      // convert their images at once (layers/sequential.h).
      thread_local std::vector<bf16> converted;
      converted.resize(static_cast<size_t>(x.numel()));
      Tensor xb = Tensor::wrap(converted.data(), x.shape(), DType::BF16, device_);
      convert(xb, x);
      xin = converted.data();
    }
    onednn_->forward(y.data<bf16>(), xin, x.dim(0), x.dim(1), x.dim(2), kernel.data<float>(), bias.data<float>());
    return;
  }
  const float* xin = nullptr;
  if (x.dtype() == DType::F32) {
    xin = x.data<float>();
  } else {
    Tensor xf = Tensor::wrap(ctx().workspace(x.numel() * sizeof(float)), x.shape(), DType::F32, device_);
    convert(xf, x);
    xin = xf.data<float>();
  }
  onednn_->forward(y.data<float>(), xin, x.dim(0), x.dim(1), x.dim(2), kernel.data<float>(), bias.data<float>());
}

void Conv2D::build_gpu_weights(int64_t padded, DType dtype) {
  const Tensor& kernel = param_value(*this, params_[0]);
  const Tensor& bias = param_value(*this, params_[1]);
  krsc_ = Tensor::empty(Shape{filters_, 3, 3, padded}, dtype, device_);
  hwio_to_krsc(krsc_, kernel);
  // Own copy: the param may be a view into an arena at any 4-byte offset; cuDNN gets aligned data.
  bias_f32_ = Tensor::empty(Shape{filters_}, DType::F32, device_);
  copy(bias_f32_, bias);
  if (dtype == DType::BF16) {
    bias_bf16_ = Tensor::empty(Shape{filters_}, DType::BF16, device_);
    convert(bias_bf16_, bias);
  } else {
    bias_bf16_ = Tensor();
  }
  gpu_weights_valid_ = true;
}

void Conv2D::forward_cuda(const Tensor& x, Tensor& y) {
#if VGGTL_HAVE_CUDA
  const DType dt = precision_ == Precision::BF16 ? DType::BF16 : DType::F32;
  const int64_t cp = padded_channels(in_channels_, precision_);
  if (!gpu_weights_valid_ || krsc_.dtype() != dt || krsc_.dim(3) != cp) build_gpu_weights(cp, dt);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
  const Conv2dShape s{n, h, w, cp, filters_};
  const ConvMath math = conv_math(precision_);
  const bool convert_input = x.dtype() != dt || cp != in_channels_;
  const size_t in_bytes = convert_input ? align256(static_cast<size_t>(n * h * w * cp) * dtype_size(dt)) : 0;
  Context& c = ctx();
  const size_t conv_bytes = conv2d_cudnn_workspace_bytes(s, math, epilogue_, device_, c.cudnn());
  char* ws = static_cast<char*>(c.workspace(in_bytes + conv_bytes));
  const void* xin = x.raw();
  if (convert_input) {
    Tensor xc = Tensor::wrap(ws, Shape{n, h, w, cp}, dt, device_);
    if (cp != in_channels_) pad_channels(xc, x);
    else convert(xc, x);
    xin = ws;
  }
  conv2d_forward_cudnn(y.raw(), xin, krsc_.raw(), bias_f32_.data<float>(),
                       dt == DType::BF16 ? bias_bf16_.data<bf16>() : nullptr, s, math, epilogue_, ws + in_bytes,
                       conv_bytes, device_, c.stream(), c.cudnn());
#else
  VGGTL_FAIL("Conv2D '", name_, "': this build has no CUDA backend (", x.str(), ")");
#endif
}

}  // namespace vggtl
