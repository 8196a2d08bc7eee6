// Standalone binding and the chained forward pass.
#include "layers/sequential.h"

namespace vggtl {

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
  Tensor cur = x;
  for (Layer* l : layers) {
    Tensor y = Tensor::empty(l->output_shape(cur.shape()), l->output_dtype(cur.dtype()), l->device());
    l->forward(cur, y, pass);
    cur = y;
  }
  return cur;
}

}  // namespace vggtl
