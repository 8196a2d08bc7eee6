// Running a plain chain of layers outside a Model: binding them to a device with their own
// parameter tensors, and a forward pass through all of them. Used by the layer tests and the
// benches; Model::forward runs its frozen prefix image by image through run_image_by_image.
// Tested by test_vgg16.cpp.
#pragma once

#include <vector>

#include "layers/layer.h"

namespace vggtl {

// Binds layer i to `device` with index i (forward only) and gives each param without a value
// its own zero-filled f32 tensor on that device.
void bind_standalone(const std::vector<Layer*>& layers, Device device);

// y = layers[n-1](...layers[0](x)), each output a fresh tensor from the device's caching
// allocator; an activation is released as soon as the next layer has consumed it, so at most
// two are alive at a time (the allocator recycles them like ping-pong buffers). Image by image
// where can_run_image_by_image allows.
Tensor run_layers_forward(const std::vector<Layer*>& layers, const Tensor& x, const Pass& pass = {});

// Whether run_image_by_image takes x through `layers`: every layer says image_by_image(), x is
// f32 or bf16 on the CPU with at least two images, and there are at least two threads to share
// them.
bool can_run_image_by_image(const std::vector<Layer*>& layers, const Tensor& x);

// y = the chain's output for x (allocated by the caller), each image taken through every layer
// on one thread before the thread takes the next image: one parallel region per batch where a
// layer-by-layer pass has one per layer, each ending at a barrier where every thread waits for
// the slowest. On a machine whose cores other jobs also want, the scheduler takes threads off
// their cores at random, and each of those barriers then waits for it (docs/performance.md, "The
// CPU engine under load"). The images of a last round that would leave half the threads or more
// idle go through layer by layer on all threads. The same bits as run_layers_forward: each
// layer gives an image the bits it gets alone (Layer::image_by_image).
void run_image_by_image(const std::vector<Layer*>& layers, const Tensor& x, Tensor& y, const Pass& pass = {});

}  // namespace vggtl
