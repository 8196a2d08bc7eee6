// The layer interface of autograd-lite. Shapes include the batch dimension; activations are
// NHWC (images) or (N, features) row-major. A layer is bound to one device by Model::build and
// runs the twin of that device. Tested through each layer's own tests under tests/layers/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"

namespace vggtl {

// Passed explicitly so that BatchNorm and Dropout cannot silently stay in the wrong mode.
enum class Mode { Train, Eval };

// Everything a forward pass needs besides its input. `step` counts optimizer steps from 0; with
// `seed` it keys every random draw (dropout masks), so CPU and GPU draw the same numbers and a
// resumed run draws what the uninterrupted run would have.
struct Pass {
  Mode mode = Mode::Eval;
  uint64_t seed = 0;
  uint32_t step = 0;
  // Data-parallel training: rows of the global batch before this process's rows, so that a
  // process's dropout draws are those of its rows in the whole batch (0 in one process).
  int64_t row_offset = 0;
};

// Arithmetic of the frozen base's convolutions (spec: fp32 | tf32 | bf16; the head is fp32).
enum class Precision { FP32, TF32, BF16 };
const char* precision_name(Precision p);

// One weight of a layer, in Keras's name and layout (kernel (kh,kw,in,out) or (in,out), bias,
// gamma, beta, moving_mean, moving_variance). Tensors are f32 on the layer's device.
struct Param {
  std::string name;
  Shape shape;
  bool learnable = true;  // false for statistics (BatchNorm moving mean and variance)
  Tensor value;           // bound by Model::build: a view into an arena or its own tensor
  Tensor grad;            // defined only when trainable (learnable and the layer not frozen)
  bool trainable() const { return grad.defined(); }
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  // Keras class name, for summaries and checkpoints: "Conv2D", "MaxPooling2D", "Flatten",
  // "Dense", "BatchNormalization", "Dropout".
  virtual const char* type() const = 0;
  // Output shape and dtype for an input shape and dtype (batch dimension included).
  virtual Shape output_shape(const Shape& in) const = 0;
  virtual DType output_dtype(DType in) const { return in; }
  // The dtype this layer computes on when its producer gives `in`; Model::build converts the
  // input first where the two differ (a bf16 base feeding the f32 head). Default: as given.
  virtual DType input_dtype(DType in) const { return in; }

  // y is allocated by the caller with output_shape(x.shape()) and output_dtype(x.dtype()), on
  // the layer's device. Saves what backward needs only when keep_for_backward() is set.
  virtual void forward(const Tensor& x, Tensor& y, const Pass& pass) = 0;
  // dy -> dx (skipped when dx is null); writes (does not accumulate) the grads of trainable
  // params. Layers without a backward throw.
  virtual void backward(const Tensor& dy, Tensor* dx);
  // False for layers whose backward is not written yet; Model::build refuses to train through them.
  virtual bool has_backward() const { return true; }
  // True when forward computes each image from that image alone, with the bits it gets in any
  // batch, and may run on several CPU threads at once for different images (the frozen base's
  // convolutions and pools on the CPU, keeping nothing for backward): a chain of such layers can
  // take each image through all of them on one thread (sequential.h: run_image_by_image).
  virtual bool image_by_image() const { return false; }

  // Weights in Keras order. Model::build binds value/grad; initialize() fills values.
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  // Keras defaults (glorot-uniform kernels, zero biases, gamma 1, beta 0, moving mean 0,
  // moving variance 1), drawn from Philox (kRngInit) keyed by (seed, layer_index).
  virtual void initialize(uint64_t seed) {}
  // Called after params' values were written from outside (loaded weights): drop derived
  // copies (reordered or bf16 weights).
  virtual void params_changed() {}

  bool frozen() const { return frozen_; }
  void set_frozen(bool f) { frozen_ = f; }
  int64_t param_count() const;

  // Set by Model::build.
  void bind(Device device, int index, bool keep_for_backward) {
    device_ = device;
    index_ = index;
    keep_for_backward_ = keep_for_backward;
  }
  Device device() const { return device_; }
  int index() const { return index_; }
  bool keep_for_backward() const { return keep_for_backward_; }

 protected:
  Context& ctx() const { return Context::get(device_); }

  std::string name_;
  std::vector<Param> params_;
  bool frozen_ = false;
  Device device_;
  int index_ = 0;
  bool keep_for_backward_ = false;
};

// Keras-style table: layer (type), output shape, parameter count; then totals and the
// trainable / non-trainable split (BatchNorm statistics and frozen layers are non-trainable).
// `input_shape` excludes the batch dimension; shapes print as (None, ...).
std::string summary_table(const std::vector<const Layer*>& layers, const Shape& input_shape,
                          const std::string& input_name = "input_1");

}  // namespace vggtl
