// Model: shapes and dtypes per layer, parameter arenas, activation buffers, and the forward and
// backward walks (see model.h).
#include "layers/model.h"

#include "kernels/convert.h"
#include "layers/buffers.h"
#include "layers/sequential.h"

namespace vggtl {

namespace {

// Trainable weights start on 64-element boundaries (256 bytes in f32): aligned for vector
// loads and cuBLAS; the gaps hold zeros and zero gradients, which Adam and SGD leave at zero.
constexpr int64_t kArenaAlign = 64;

int other_slot(int slot) { return slot == 0 ? 1 : 0; }

// Which of two byte buffers holds t's memory, or -1.
int slot_holding(const Tensor& t, const Tensor (&buffers)[2]) {
  for (int s = 0; s < 2; ++s) {
    const Tensor& b = buffers[s];
    if (!b.defined() || b.device() != t.device()) continue;
    const char* lo = static_cast<const char*>(b.raw());
    const char* p = static_cast<const char*>(t.raw());
    if (p >= lo && p < lo + b.nbytes()) return s;
  }
  return -1;
}

bool inside(const Tensor& t, const Tensor& arena) {
  if (!t.defined() || !arena.defined() || t.device() != arena.device()) return false;
  const char* lo = static_cast<const char*>(arena.raw());
  const char* p = static_cast<const char*>(t.raw());
  return p >= lo && p < lo + arena.nbytes();
}

// dst <- src with dtype conversion, from any device.
void assign(Tensor& dst, const Tensor& src) {
  VGGTL_CHECK(dst.numel() == src.numel(), "cannot assign ", src.str(), " to ", dst.str());
  if (dst.dtype() == src.dtype()) {
    copy(dst, src);
    return;
  }
  const Tensor here = src.device() == dst.device() ? src : to_device(src, dst.device());
  convert(dst, here);
}

Tensor byte_view(Tensor& store, const Shape& shape, DType dtype, Device device) {
  const int64_t bytes = shape.numel() * static_cast<int64_t>(dtype_size(dtype));
  if (!store.defined() || store.numel() < bytes) {
    store = Tensor();
    store = Tensor::empty(Shape{bytes > 0 ? bytes : 1}, DType::U8, device);
  }
  return Tensor::wrap(store.raw(), shape, dtype, device);
}

}  // namespace

Model::Model(Device device, DType dtype) : device_(device), dtype_(dtype) {
  VGGTL_CHECK(dtype == DType::F32 || (dtype == DType::F64 && device.is_cpu()),
              "Model: weights are f32, or f64 on the CPU; got ", dtype_name(dtype), " on ",
              device.str());
}

Layer& Model::add(std::unique_ptr<Layer> layer) {
  VGGTL_CHECK(layer, "Model::add: null layer");
  VGGTL_CHECK(index_of(layer->name()) < 0, "Model::add: a layer named '", layer->name(),
              "' exists already");
  layers_.push_back(std::move(layer));
  built_ = false;
  return *layers_.back();
}

Layer& Model::layer(int i) {
  VGGTL_CHECK(i >= 0 && i < size(), "layer index ", i, " out of range [0, ", size(), ")");
  return *layers_[i];
}

const Layer& Model::layer(int i) const {
  VGGTL_CHECK(i >= 0 && i < size(), "layer index ", i, " out of range [0, ", size(), ")");
  return *layers_[i];
}

int Model::index_of(const std::string& name) const {
  for (int i = 0; i < size(); ++i)
    if (layers_[i]->name() == name) return i;
  return -1;
}

Shape Model::output_shape(int i) const {
  VGGTL_CHECK(built_ && i >= 0 && i < size(), "output_shape(", i,
              ") of an unbuilt model or out of range");
  return out_shapes_[i];
}

DType Model::output_dtype(int i) const {
  VGGTL_CHECK(built_ && i >= 0 && i < size(), "output_dtype(", i,
              ") of an unbuilt model or out of range");
  return out_dtypes_[i];
}

Shape Model::layer_input_shape(int i) const { return i == 0 ? input_shape_ : out_shapes_[i - 1]; }

void Model::build(const Shape& input_shape, DType input_dtype) {
  VGGTL_CHECK(!layers_.empty(), "Model::build: the model has no layers");
  input_shape_ = input_shape;
  input_dtype_ = input_dtype;
  out_shapes_.assign(layers_.size(), Shape());
  in_dtypes_.assign(layers_.size(), DType::F32);
  out_dtypes_.assign(layers_.size(), DType::F32);
  // Bound to the device first: what a layer computes in can depend on it (a bf16 Conv2D
  // outputs bf16 on a GPU only). keep_for_backward is settled below.
  for (int i = 0; i < size(); ++i) layers_[i]->bind(device_, i, false);
  Shape s = with_batch(input_shape, 1);
  DType d = input_dtype;
  for (int i = 0; i < size(); ++i) {
    in_dtypes_[i] = layers_[i]->input_dtype(d);
    s = layers_[i]->output_shape(s);
    d = layers_[i]->output_dtype(in_dtypes_[i]);
    out_shapes_[i] = without_batch(s);
    out_dtypes_[i] = d;
  }
  first_trainable_ = size();
  for (int i = 0; i < size() && first_trainable_ == size(); ++i) {
    if (layers_[i]->frozen()) continue;
    for (const Param& p : layers_[i]->params())
      if (p.learnable) first_trainable_ = i;
  }
  for (int i = first_trainable_; i < size(); ++i)
    if (!layers_[i]->has_backward())
      throw InputError("layer '" + layers_[i]->name() + "' (" + layers_[i]->type() +
                       ") has no backward pass yet, so nothing before it can be trained; freeze it and the layers "
                       "before it");
  for (int i = 0; i < size(); ++i) layers_[i]->bind(device_, i, i >= first_trainable_);
  bind_params();
  outputs_.assign(layers_.size(), Tensor());
  converted_.assign(layers_.size(), Tensor());
  final_store_ = Tensor();
  for (Tensor& t : pingpong_) t = Tensor();
  for (Tensor& t : grad_pingpong_) t = Tensor();
  last_ = LastForward{};
  built_ = true;
}

void Model::bind_params() {
  int64_t total = 0;
  for (auto& l : layers_) {
    for (const Param& p : l->params()) {
      if (!p.learnable || l->frozen()) continue;
      total = (total + kArenaAlign - 1) / kArenaAlign * kArenaAlign + p.shape.numel();
    }
  }
  Tensor values, grads;
  if (total > 0) {
    values = Tensor::zeros(Shape{total}, dtype_, device_);
    grads = Tensor::zeros(Shape{total}, dtype_, device_);
  }
  arena_offsets_.clear();
  int64_t offset = 0;
  for (auto& l : layers_) {
    for (Param& p : l->params()) {
      const Tensor old = p.value;
      VGGTL_CHECK(!old.defined() || old.numel() == p.shape.numel(), "layer '", l->name(),
                  "': weight '", p.name, "' holds ", old.str(), ", expected ", p.shape.str());
      if (p.learnable && !l->frozen()) {
        offset = (offset + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
        p.value = values.view(offset, p.shape);
        p.grad = grads.view(offset, p.shape);
        if (old.defined()) assign(p.value, old);
        arena_offsets_.push_back(offset);
        offset += p.shape.numel();
        continue;
      }
      p.grad = Tensor();
      arena_offsets_.push_back(-1);
      const bool keep = old.defined() && old.shape() == p.shape && old.dtype() == dtype_ &&
                        old.device() == device_ && !inside(old, param_arena_);
      if (keep) continue;
      p.value = Tensor::zeros(p.shape, dtype_, device_);
      if (old.defined()) assign(p.value, old);
    }
  }
  synchronize(device_);  // the old arena may go now
  param_arena_ = values;
  grad_arena_ = grads;
  for (auto& l : layers_) l->params_changed();
}

void Model::initialize(uint64_t seed, int from, int to) {
  VGGTL_CHECK(built_, "Model::initialize before build");
  if (to < 0) to = size();
  VGGTL_CHECK(0 <= from && from <= to && to <= size(), "Model::initialize: range [", from, ", ", to, ") of ", size());
  for (int i = from; i < to; ++i) {
    layers_[i]->initialize(seed);
    layers_[i]->params_changed();
  }
}

Tensor Model::pingpong(int slot, const Shape& shape, DType dtype) {
  return byte_view(pingpong_[slot], shape, dtype, device_);
}

Tensor Model::grad_pingpong(int slot, const Shape& shape, DType dtype) {
  return byte_view(grad_pingpong_[slot], shape, dtype, device_);
}

std::vector<Layer*> Model::image_by_image_run(int from, int to, const Tensor& x) const {
  std::vector<Layer*> run;
  for (int i = from; i < to && i < first_trainable_; ++i) {
    // f32 or bf16 (the CPU's bf16 base), with no conversion between the layers of the run.
    const DType in = in_dtypes_[i], out = out_dtypes_[i];
    if (!layers_[i]->image_by_image() || (in != DType::F32 && in != DType::BF16) ||
        (out != DType::F32 && out != DType::BF16) || (i > from && in != out_dtypes_[i - 1]))
      break;
    run.push_back(layers_[i].get());
  }
  if (run.size() < 2 || !can_run_image_by_image(run, x)) run.clear();
  return run;
}

Tensor Model::forward(const Tensor& x, const Pass& pass, int from, int to) {
  VGGTL_CHECK(built_, "Model::forward before build");
  if (to < 0) to = size();
  VGGTL_CHECK(0 <= from && from < to && to <= size(), "Model::forward: layer range [", from, ", ",
              to, ") of ", size());
  const Shape in = layer_input_shape(from);
  VGGTL_CHECK(x.ndim() == in.ndim() + 1 && without_batch(x.shape()) == in && x.device() == device_,
              "Model::forward: layer ", from, " ('", layers_[from]->name(),
              "') takes samples shaped ", in.str(), " on ", device_.str(), ", got ", x.str());
  const int64_t n = x.dim(0);
  last_ = LastForward{};
  Tensor cur = x;
  int slot = slot_holding(x, pingpong_);
  for (int i = from; i < to; ++i) {
    if (cur.dtype() != in_dtypes_[i]) {
      const Shape shape = with_batch(layer_input_shape(i), n);
      Tensor c;
      if (i >= first_trainable_) {  // the layer saves its input for backward
        c = reuse_buffer(converted_[i], shape, in_dtypes_[i], device_);
        slot = -1;
      } else {
        slot = other_slot(slot);
        c = pingpong(slot, shape, in_dtypes_[i]);
      }
      convert(c, cur);
      cur = c;
    }
    // A run of frozen layers before the first trainable one that can take the batch image by
    // image (the CPU base) goes through at once; only its last output is stored, as below.
    const std::vector<Layer*> run = image_by_image_run(i, to, cur);
    if (!run.empty()) i += static_cast<int>(run.size()) - 1;
    const Shape shape = with_batch(out_shapes_[i], n);
    Tensor y;
    if (i >= first_trainable_ - 1) {  // backward reads it, as some layer's input or output
      y = reuse_buffer(outputs_[i], shape, out_dtypes_[i], device_);
      slot = -1;
    } else {
      slot = other_slot(slot);
      y = pingpong(slot, shape, out_dtypes_[i]);
    }
    if (run.empty()) layers_[i]->forward(cur, y, pass);
    else run_image_by_image(run, cur, y, pass);
    cur = y;
  }
  if (to == size() && cur.dtype() != DType::F32 && cur.dtype() != DType::F64) {
    Tensor c = reuse_buffer(final_store_, cur.shape(), DType::F32, device_);
    convert(c, cur);
    cur = c;
  }
  last_ = LastForward{true, from, to, n};
  return cur;
}

void Model::backward(const Tensor& dy) {
  VGGTL_CHECK(last_.valid && last_.from <= first_trainable_ && last_.to == size(),
              "Model::backward needs a forward from layer ", first_trainable_,
              " or earlier through the last layer");
  if (first_trainable_ >= size()) return;
  const int64_t n = last_.batch;
  const Shape out = with_batch(out_shapes_.back(), n);
  VGGTL_CHECK(dy.shape() == out && dy.device() == device_, "Model::backward: dy ", dy.str(),
              " for an output ", out.str(), " on ", device_.str());
  Tensor g = dy;
  int slot = slot_holding(dy, grad_pingpong_);
  if (g.dtype() != out_dtypes_.back()) {
    slot = other_slot(slot);
    Tensor c = grad_pingpong(slot, out, out_dtypes_.back());
    convert(c, g);
    g = c;
  }
  for (int i = size() - 1; i >= first_trainable_; --i) {
    if (i == first_trainable_) {
      layers_[i]->backward(g, nullptr);
      break;
    }
    const Shape in = with_batch(layer_input_shape(i), n);
    slot = other_slot(slot);
    Tensor dx = grad_pingpong(slot, in, in_dtypes_[i]);
    layers_[i]->backward(g, &dx);
    g = dx;
    if (in_dtypes_[i] != out_dtypes_[i - 1]) {
      slot = other_slot(slot);
      Tensor c = grad_pingpong(slot, in, out_dtypes_[i - 1]);
      convert(c, g);
      g = c;
    }
  }
}

int64_t Model::param_count() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l->param_count();
  return n;
}

int64_t Model::trainable_count() const {
  int64_t n = 0;
  for (const auto& l : layers_)
    for (const Param& p : l->params())
      if (p.trainable()) n += p.shape.numel();
  return n;
}

std::vector<Model::NamedParam> Model::params_by_layer() {
  VGGTL_CHECK(built_, "Model::params_by_layer before build");
  std::vector<NamedParam> out;
  size_t k = 0;
  for (auto& l : layers_)
    for (Param& p : l->params()) out.push_back(NamedParam{l.get(), &p, arena_offsets_[k++]});
  return out;
}

Param& Model::param(const std::string& layer_name, const std::string& weight_name) {
  const int i = index_of(layer_name);
  VGGTL_CHECK(i >= 0, "the model has no layer '", layer_name, "'");
  for (Param& p : layers_[i]->params())
    if (p.name == weight_name) return p;
  VGGTL_FAIL("layer '", layer_name, "' has no weight '", weight_name, "'");
}

std::string Model::summary(const Shape& input_shape) const {
  std::vector<const Layer*> ls;
  for (const auto& l : layers_) ls.push_back(l.get());
  return summary_table(ls, input_shape);
}

}  // namespace vggtl
