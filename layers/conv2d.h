// Keras Conv2D(filters, (3,3), padding='same', activation='relu'): x (N,H,W,C) -> y (N,H,W,K),
// NHWC. Params "kernel" (3,3,C,K) and "bias" (K), f32 (f64 on the CPU for gradient checks), Keras
// layout. Backward for fine-tuning: f32 or f64 activations; on the CPU also bf16 under BF16 (mixed
// precision: bf16 activations and gradients, the f32 params as master weights, converted to bf16
// once per step, f32 weight gradients). The GPU backward is fp32 only, so a bf16 forward cannot be
// trained there: vggtl_train refuses --precision bf16 with --trainable-from on the GPU in one line
// before any work. Tested by tests/layers/test_vgg16.cpp and test_finetune.cpp (the kernels by
// test_conv2d.cpp and test_conv2d_backward.cpp).
#pragma once

#include <string>

#include "kernels/conv2d.h"
#include "layers/layer.h"

namespace vggtl {

class Conv2D : public Layer {
 public:
  Conv2D(std::string name, int64_t in_channels, int64_t filters, Precision precision = Precision::TF32);
  ~Conv2D() override;

  const char* type() const override { return "Conv2D"; }
  Shape output_shape(const Shape& in) const override;
  // bf16 under BF16 (the next layer takes it as it is), f64 for an f64 input (the CPU's
  // gradient-check path), f32 otherwise.
  DType output_dtype(DType in) const override;
  // On the CPU under BF16 an f32 input is taken as bf16 (Model converts it); otherwise as given.
  DType input_dtype(DType in) const override;
  // x may be f32 or bf16 whatever the precision; it is converted (and on the GPU its channels
  // zero-padded to 4 or 8 for tensor cores) in the device's workspace when needed.
  // Keeps x and y (the ReLU mask) when keep_for_backward(); a trainable layer refreshes its
  // derived weight copies on every call (the optimizer changes the values in place).
  void forward(const Tensor& x, Tensor& y, const Pass& pass) override;
  // dy (N,H,W,K) -> dx (N,H,W,C) through the ReLU mask; writes the kernel and bias gradients (f32)
  // when trainable. dy, dx, the kept x and y of one dtype: f32, or f64 or bf16 on the CPU (a bf16
  // forward on the GPU cannot be trained through).
  void backward(const Tensor& dy, Tensor* dx) override;
  // He-uniform kernel (Keras he_uniform: U(-L, L), L = sqrt(6 / (9 C))) and zero bias, from
  // Philox kRngInit keyed by (seed, layer index): the random base of `--weights none`. He rather
  // than Keras's glorot default: with glorot weights each conv + ReLU halves the mean square of
  // the activations, so 13 of them leave the head features ~1e-4 times smaller.
  void initialize(uint64_t seed) override;
  void params_changed() override;
  // On the CPU, when nothing is kept for backward and no weight is trained.
  bool image_by_image() const override;

  int64_t in_channels() const { return in_channels_; }
  int64_t filters() const { return filters_; }
  // The arithmetic: on the GPU as named; on the CPU BF16 runs bf16 through oneDNN (an InputError
  // where the CPU has no native bf16: kernels/cpu_backend.h), TF32 runs fp32 (said once in the log).
  Precision precision() const { return precision_; }
  void set_precision(Precision p);
  // The oneDNN implementation of the last CPU forward ("brg:avx512_core_bf16"), "" before one.
  std::string cpu_implementation() const { return op_.cpu_implementation(); }
  // How bias and ReLU follow the convolution on the GPU (default: measured per shape).
  void set_epilogue(ConvEpilogue e) { op_.set_epilogue(e); }

 private:
  int64_t in_channels_, filters_;
  Precision precision_;
  // The convolutions and what they keep between calls (kernels/conv2d.h).
  Conv2dOp op_;
  // Backward: the saved input and output, the masked gradient.
  Tensor x_, y_, dz_store_;
};

}  // namespace vggtl
