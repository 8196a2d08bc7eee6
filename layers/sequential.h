// Running a plain chain of layers outside a Model: binding them to a device with their own
// parameter tensors, and a forward pass through all of them. Used by the layer tests and the
// benches; a Model can reuse run_layers_forward for its frozen prefix. Tested by test_vgg16.cpp.
#pragma once

#include <vector>

#include "layers/layer.h"

namespace vggtl {

// Binds layer i to `device` with index i (forward only) and gives each param without a value
// its own zero-filled f32 tensor on that device.
void bind_standalone(const std::vector<Layer*>& layers, Device device);

// y = layers[n-1](...layers[0](x)), each output a fresh tensor from the device's caching
// allocator; an activation is released as soon as the next layer has consumed it, so at most
// two are alive at a time (the allocator recycles them like ping-pong buffers).
Tensor run_layers_forward(const std::vector<Layer*>& layers, const Tensor& x, const Pass& pass = {});

}  // namespace vggtl
