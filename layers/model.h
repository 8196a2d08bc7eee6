// Model: autograd-lite over an ordered list of layers on one device. build() decides shapes,
// dtypes and which layers keep activations: only those at or after the first trainable layer
// (the frozen base before it keeps nothing, owns no gradients and runs through two ping-pong
// buffers). Trainable weights are views into one value arena and one gradient arena, so an
// optimizer step is one pass; freezing or unfreezing a layer is a flag and a rebuild, which
// keeps every value. Tested in tests/layers/test_model.cpp (and the other layer tests).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace vggtl {

class Model {
 public:
  // dtype: of the head's weights and activations: F32, or F64 on the CPU (gradient checks).
  explicit Model(Device device = Device::cpu(), DType dtype = DType::F32);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  Layer& add(std::unique_ptr<Layer> layer);
  template <typename L, typename... Args>
  L& emplace(Args&&... args) {
    auto owned = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *owned;
    add(std::move(owned));
    return ref;
  }

  int size() const { return static_cast<int>(layers_.size()); }
  Layer& layer(int i);
  const Layer& layer(int i) const;
  int index_of(const std::string& name) const;  // -1 when absent
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }

  // input_shape excludes the batch dimension. Call again after freezing or unfreezing layers:
  // weights keep their values (the arenas move: make a new optimizer).
  void build(const Shape& input_shape, DType input_dtype = DType::F32);
  bool built() const { return built_; }
  const Shape& input_shape() const { return input_shape_; }
  Shape output_shape(int i) const;  // of layer i, without the batch dimension
  DType output_dtype(int i) const;
  // Index of the first layer with a trainable weight; size() when there is none.
  int first_trainable() const { return first_trainable_; }

  // Keras default initialisation of layers [from, to) (to = -1: to the end; see
  // Layer::initialize). A base whose weights come from a file need not be drawn first.
  void initialize(uint64_t seed, int from = 0, int to = -1);

  // Runs layers [from, to) (to = -1: to the end) on x, whose shape is (N, input of layer
  // `from`); any dtype the model can convert. Returns the output of layer to-1, a view valid
  // until the next forward; at the end of the model it is F32 (or the model's F64). For
  // backward the range must start at or before first_trainable() and run to the end; x must
  // then stay unchanged until backward() returns.
  Tensor forward(const Tensor& x, const Pass& pass, int from = 0, int to = -1);
  // dy: gradient of the loss with respect to the last forward's output. Writes the gradient of
  // every trainable weight; stops at the first trainable layer, whose dx is not computed.
  void backward(const Tensor& dy);

  int64_t param_count() const;
  int64_t trainable_count() const;  // the weights in the arena
  // Flat F32/F64 arenas of the trainable weights and their gradients (undefined when none).
  Tensor& param_arena() { return param_arena_; }
  Tensor& grad_arena() { return grad_arena_; }

  struct NamedParam {
    Layer* layer;
    Param* param;
    int64_t arena_offset;  // element offset in the arenas, -1 when not trainable
  };
  // Every weight in model order and Keras order within each layer, for checkpoints.
  std::vector<NamedParam> params_by_layer();
  Param& param(const std::string& layer_name, const std::string& weight_name);

  // Keras-style table (layer.h: summary_table) for an input shape without the batch dimension.
  std::string summary(const Shape& input_shape) const;
  std::string summary() const { return summary(input_shape_); }

 private:
  // Layers [from, ...) that run_image_by_image can take x through (frozen, before the first
  // trainable layer, f32 in and out): at least two, or none.
  std::vector<Layer*> image_by_image_run(int from, int to, const Tensor& x) const;
  Shape layer_input_shape(int i) const;
  Tensor pingpong(int slot, const Shape& shape, DType dtype);
  Tensor grad_pingpong(int slot, const Shape& shape, DType dtype);
  void bind_params();

  Device device_;
  DType dtype_;
  std::vector<std::unique_ptr<Layer>> layers_;
  bool built_ = false;
  Shape input_shape_;
  DType input_dtype_ = DType::F32;
  std::vector<Shape> out_shapes_;  // per layer, without batch
  std::vector<DType> in_dtypes_;   // what each layer computes on
  std::vector<DType> out_dtypes_;
  int first_trainable_ = 0;

  Tensor param_arena_, grad_arena_;
  std::vector<int64_t> arena_offsets_;  // per (layer, param) in params_by_layer() order

  // Activation memory: persistent per-layer outputs (and input conversions) for the layers that
  // backward needs, two ping-pong byte buffers for the rest, two for gradients.
  std::vector<Tensor> outputs_, converted_;
  Tensor final_store_;
  Tensor pingpong_[2], grad_pingpong_[2];

  struct LastForward {
    bool valid = false;
    int from = 0, to = 0;
    int64_t batch = 0;
  } last_;
};

}  // namespace vggtl
