// Conv2dOp: one layer's convolutions dispatched by device: the double oracle for f64, oneDNN on
// the CPU, cuDNN on the GPU (through conv2d.h's small cuDNN interface; in a CPU-only build its
// functions are kernels/cuda_absent.cpp's refusals). Tested by tests/layers/test_vgg16.cpp and
// tests/layers/test_finetune.cpp.
#include <atomic>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/log.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"

namespace vggtl {

namespace {

// cuDNN's tensor-core kernels want NHWC channels in multiples of 16 bytes' worth of elements
// (4 for tf32, 8 for bf16); conv1_1's 3 channels are padded with zeros (and zero filter taps).
int64_t padded_channels(int64_t c, ConvMath m) {
  const int64_t mult = m == ConvMath::BF16 ? 8 : m == ConvMath::TF32 ? 4 : 1;
  return (c + mult - 1) / mult * mult;
}

size_t align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

Conv2dOp::Conv2dOp(int64_t c, int64_t k, ConvMath math) : c_(c), k_(k), math_(math) {
  VGGTL_CHECK(c > 0 && k > 0, "conv2d: ", c, " -> ", k, " channels");
}

Conv2dOp::~Conv2dOp() = default;

void Conv2dOp::set_math(ConvMath m) {
  if (m == math_) return;
  gpu_weights_valid_ = false;
  math_ = m;
  if (onednn_) onednn_ = make_onednn();  // its primitives' data type
}

void Conv2dOp::weights_changed() {
  gpu_weights_valid_ = false;
  if (onednn_) onednn_->weights_changed();
}

std::unique_ptr<Conv2dOnednn> Conv2dOp::make_onednn() const {
  return std::make_unique<Conv2dOnednn>(c_, k_, true, CpuConvAlgo::Auto,
                                        math_ == ConvMath::BF16 ? DType::BF16 : DType::F32);
}

void Conv2dOp::forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  VGGTL_CHECK(x.ndim() == 4 && x.dim(3) == c_ && y.shape() == Shape({x.dim(0), x.dim(1), x.dim(2), k_}) &&
                  w.shape() == Shape({3, 3, c_, k_}) && b.shape() == Shape({k_}),
              "conv2d: x ", x.str(), ", w ", w.str(), ", b ", b.str(), " -> y ", y.str());
  VGGTL_CHECK(x.device() == y.device() && w.device() == y.device() && b.device() == y.device(),
              "conv2d: devices of x ", x.str(), ", w ", w.str(), ", b ", b.str(), " -> y ", y.str());
  if (x.numel() == 0) return;
  if (x.dtype() == DType::F64) {
    // The gradient-check path: the double oracle.
    VGGTL_CHECK(!y.is_cuda() && y.dtype() == DType::F64 && w.dtype() == DType::F64 && b.dtype() == DType::F64,
                "conv2d: f64 runs on the CPU with f64 weights, got x ", x.str(), ", w ", w.str(), " -> y ", y.str());
    const Conv2dShape s{x.dim(0), x.dim(1), x.dim(2), c_, k_};
    conv2d_3x3_ref_cpu(y.data<double>(), x.data<double>(), w.data<double>(), b.data<double>(), s, true);
    return;
  }
  VGGTL_CHECK((x.dtype() == DType::F32 || x.dtype() == DType::BF16) &&
                  y.dtype() == (math_ == ConvMath::BF16 ? DType::BF16 : DType::F32) && w.dtype() == DType::F32 &&
                  b.dtype() == DType::F32,
              "conv2d (", conv_math_name(math_), "): x ", x.str(), ", w ", w.str(), ", b ", b.str(), " -> y ",
              y.str());
  if (y.is_cuda()) forward_cuda(y, x, w, b);
  else forward_cpu(y, x, w, b);
}

void Conv2dOp::forward_cpu(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (math_ == ConvMath::TF32) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) log_info("precision tf32 applies to the GPU only; the CPU convolutions run in fp32");
  }
  const bool bf16_math = math_ == ConvMath::BF16;
  if (bf16_math && !cpu_has_bf16())
    throw InputError("--precision bf16 on the CPU: " + cpu_bf16_unsupported_reason() + "; use --precision fp32");
  std::call_once(onednn_made_, [this] { onednn_ = make_onednn(); });
  if (bf16_math) {
    const bf16* xin = nullptr;
    if (x.dtype() == DType::BF16) {
      xin = x.data<bf16>();
    } else {
      // The calling thread's own buffer, not the shared workspace: image by image, several threads
      // convert their images at once (layers/sequential.h).
      thread_local std::vector<bf16> converted;
      converted.resize(static_cast<size_t>(x.numel()));
      Tensor xb = Tensor::wrap(converted.data(), x.shape(), DType::BF16, x.device());
      convert(xb, x);
      xin = converted.data();
    }
    onednn_->forward(y.data<bf16>(), xin, x.dim(0), x.dim(1), x.dim(2), w.data<float>(), b.data<float>());
    return;
  }
  const float* xin = nullptr;
  if (x.dtype() == DType::F32) {
    xin = x.data<float>();
  } else {
    Tensor xf = Tensor::wrap(Context::get(x.device()).workspace(x.numel() * sizeof(float)), x.shape(), DType::F32,
                             x.device());
    convert(xf, x);
    xin = xf.data<float>();
  }
  onednn_->forward(y.data<float>(), xin, x.dim(0), x.dim(1), x.dim(2), w.data<float>(), b.data<float>());
}

void Conv2dOp::build_gpu_weights(const Tensor& w, const Tensor& b, int64_t padded, DType dtype) {
  krsc_ = Tensor::empty(Shape{k_, 3, 3, padded}, dtype, w.device());
  hwio_to_krsc(krsc_, w);
  // Own copy: the param may be a view into an arena at any 4-byte offset; cuDNN gets aligned data.
  bias_f32_ = Tensor::empty(Shape{k_}, DType::F32, b.device());
  copy(bias_f32_, b);
  if (dtype == DType::BF16) {
    bias_bf16_ = Tensor::empty(Shape{k_}, DType::BF16, b.device());
    convert(bias_bf16_, b);
  } else {
    bias_bf16_ = Tensor();
  }
  gpu_weights_valid_ = true;
}

void Conv2dOp::forward_cuda(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b) {
  const DType dt = math_ == ConvMath::BF16 ? DType::BF16 : DType::F32;
  const int64_t cp = padded_channels(c_, math_);
  if (!gpu_weights_valid_ || krsc_.dtype() != dt || krsc_.dim(3) != cp || krsc_.device() != y.device())
    build_gpu_weights(w, b, cp, dt);
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2);
  const Conv2dShape s{n, h, wd, cp, k_};
  const bool convert_input = x.dtype() != dt || cp != c_;
  const size_t in_bytes = convert_input ? align256(static_cast<size_t>(n * h * wd * cp) * dtype_size(dt)) : 0;
  Context& c = Context::get(y.device());
  const size_t conv_bytes = conv2d_cudnn_workspace_bytes(s, math_, epilogue_, y.device(), c.cudnn());
  char* ws = static_cast<char*>(c.workspace(in_bytes + conv_bytes));
  const void* xin = x.raw();
  if (convert_input) {
    Tensor xc = Tensor::wrap(ws, Shape{n, h, wd, cp}, dt, y.device());
    if (cp != c_) pad_channels(xc, x);
    else convert(xc, x);
    xin = ws;
  }
  conv2d_forward_cudnn(y.raw(), xin, krsc_.raw(), bias_f32_.data<float>(),
                       dt == DType::BF16 ? bias_bf16_.data<bf16>() : nullptr, s, math_, epilogue_, ws + in_bytes,
                       conv_bytes, y.device(), c.stream(), c.cudnn());
}

void Conv2dOp::backward(Tensor* dx, Tensor* dw, const Tensor& dz, const Tensor& x, const Tensor& w) {
  VGGTL_CHECK(x.ndim() == 4 && x.dim(3) == c_ && dz.shape() == Shape({x.dim(0), x.dim(1), x.dim(2), k_}) &&
                  w.shape() == Shape({3, 3, c_, k_}) && (!dx || dx->shape() == x.shape()) &&
                  (!dw || dw->shape() == w.shape()),
              "conv2d_backward: dz ", dz.str(), ", x ", x.str(), ", w ", w.str());
  const DType dt = dz.dtype();
  const Device dev = dz.device();
  // Mixed precision (the CPU's bf16): bf16 activations and gradients, f32 weights and dw.
  const DType wt = dt == DType::BF16 ? DType::F32 : dt;
  VGGTL_CHECK((dt == DType::F32 || ((dt == DType::F64 || dt == DType::BF16) && !dz.is_cuda())) && x.dtype() == dt &&
                  w.dtype() == wt && (!dx || dx->dtype() == dt) && (!dw || dw->dtype() == wt) && x.device() == dev &&
                  w.device() == dev && (!dx || dx->device() == dev) && (!dw || dw->device() == dev),
              "conv2d_backward: f32 (f64, or bf16 with f32 weights, on the CPU) on one device, got dz ", dz.str(),
              ", x ", x.str(), ", w ", w.str());
  if (dz.numel() == 0 || (!dx && !dw)) return;
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2);
  if (dt == DType::F64) {
    const Conv2dShape s{n, h, wd, c_, k_};
    conv2d_3x3_backward_ref_cpu(dx ? dx->data<double>() : nullptr, dw ? dw->data<double>() : nullptr, nullptr,
                                dz.data<double>(), x.data<double>(), w.data<double>(), s);
    return;
  }
  if (dz.is_cuda()) {
    backward_cuda(dx, dw, dz, x, w);
    return;
  }
  if (dt == DType::BF16) {
    if (!cpu_has_bf16())
      throw InputError("bf16 fine-tuning on the CPU: " + cpu_bf16_unsupported_reason() + "; use --precision fp32");
    if (!onednn_bwd_bf16_) onednn_bwd_bf16_ = std::make_unique<Conv2dOnednnBackward>(c_, k_, DType::BF16);
    if (dw) onednn_bwd_bf16_->backward_weights(dw->data<float>(), x.data<bf16>(), dz.data<bf16>(), n, h, wd);
    if (dx) onednn_bwd_bf16_->backward_data(dx->data<bf16>(), dz.data<bf16>(), n, h, wd, w.data<float>());
    return;
  }
  if (!onednn_bwd_) onednn_bwd_ = std::make_unique<Conv2dOnednnBackward>(c_, k_);
  if (dw) onednn_bwd_->backward_weights(dw->data<float>(), x.data<float>(), dz.data<float>(), n, h, wd);
  if (dx) onednn_bwd_->backward_data(dx->data<float>(), dz.data<float>(), n, h, wd, w.data<float>());
}

void Conv2dOp::backward_cuda(Tensor* dx, Tensor* dw, const Tensor& dz, const Tensor& x, const Tensor& w) {
  const Device dev = dz.device();
  const Conv2dShape s{x.dim(0), x.dim(1), x.dim(2), c_, k_};
  Context& c = Context::get(dev);
  // Workspace: the kernel and its gradient in cuDNN's KRSC layout, then cuDNN's own.
  const size_t filter_bytes = align256(static_cast<size_t>(9 * c_ * k_) * sizeof(float));
  const size_t conv_bytes = conv2d_backward_cudnn_workspace_bytes(s, dev, c.cudnn());
  char* ws = static_cast<char*>(c.workspace(2 * filter_bytes + conv_bytes));
  const Shape krsc{k_, 3, 3, c_};
  Tensor w_krsc = Tensor::wrap(ws, krsc, DType::F32, dev);
  Tensor dw_krsc = Tensor::wrap(ws + filter_bytes, krsc, DType::F32, dev);
  if (dx) hwio_to_krsc(w_krsc, w);
  conv2d_backward_cudnn(dx ? dx->data<float>() : nullptr, dw ? dw_krsc.data<float>() : nullptr, dz.data<float>(),
                        x.data<float>(), w_krsc.data<float>(), s, ws + 2 * filter_bytes, conv_bytes, dev, c.cudnn());
  if (dw) krsc_to_hwio(*dw, dw_krsc);
}

}  // namespace vggtl
