// Standalone binding and the chained forward pass, layer by layer or image by image.
#include "layers/sequential.h"

#include "kernels/cpu_backend.h"

namespace vggtl {

namespace {

// y = layers[n-1](...layers[0](x)), the intermediate activations from the allocator.
void forward_chain(const std::vector<Layer*>& layers, const Tensor& x, Tensor& y, const Pass& pass) {
  Tensor cur = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer* l = layers[i];
    if (i + 1 == layers.size()) {
      l->forward(cur, y, pass);
      return;
    }
    Tensor next = Tensor::empty(l->output_shape(cur.shape()), l->output_dtype(cur.dtype()), l->device());
    l->forward(cur, next, pass);
    cur = next;
  }
}

Shape chain_output_shape(const std::vector<Layer*>& layers, const Tensor& x, DType* dtype) {
  Shape shape = x.shape();
  *dtype = x.dtype();
  for (Layer* l : layers) {
    shape = l->output_shape(shape);
    *dtype = l->output_dtype(*dtype);
  }
  return shape;
}

}  // namespace

void bind_standalone(const std::vector<Layer*>& layers, Device device) {
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer* l = layers[i];
    l->bind(device, static_cast<int>(i), false);
    for (Param& p : l->params())
      if (!p.value.defined()) p.value = Tensor::zeros(p.shape, DType::F32, device);
  }
  synchronize(device);
}

Tensor run_layers_forward(const std::vector<Layer*>& layers, const Tensor& x, const Pass& pass) {
  if (layers.empty()) return x;
  DType dtype;
  const Shape shape = chain_output_shape(layers, x, &dtype);
  Tensor y = Tensor::empty(shape, dtype, layers.back()->device());
  if (can_run_image_by_image(layers, x)) run_image_by_image(layers, x, y, pass);
  else forward_chain(layers, x, y, pass);
  return y;
}

bool can_run_image_by_image(const std::vector<Layer*>& layers, const Tensor& x) {
  if (layers.empty() || x.ndim() < 1 || x.dim(0) < 2 || (x.dtype() != DType::F32 && x.dtype() != DType::BF16) ||
      x.device().is_cuda())
    return false;
  for (Layer* l : layers)
    if (!l->image_by_image()) return false;
  return cpu_team_threads() > 1;
}

void run_image_by_image(const std::vector<Layer*>& layers, const Tensor& x, Tensor& y, const Pass& pass) {
  VGGTL_CHECK(can_run_image_by_image(layers, x), "run_image_by_image: ", x.str(), " cannot go image by image");
  DType dtype;
  const Shape shape = chain_output_shape(layers, x, &dtype);
  VGGTL_CHECK(y.shape() == shape && y.dtype() == dtype && !y.device().is_cuda(), "run_image_by_image: output ",
              y.str(), ", expected ", dtype_name(dtype), shape.str());
  const int64_t n = x.dim(0);
  const int threads = cpu_team_threads();
  const int64_t alone = images_one_per_thread(n, threads);
  for_each_image_on_threads(alone, threads, [&](int64_t i) {
    Tensor yi = y.slice(i, i + 1);
    forward_chain(layers, x.slice(i, i + 1), yi, pass);
  });
  if (alone < n) {
    Tensor rest = y.slice(alone, n);
    forward_chain(layers, x.slice(alone, n), rest, pass);
  }
}

}  // namespace vggtl
