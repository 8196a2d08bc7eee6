// Writing weights in the Keras-1 layout of the VGG16 downloads (the notop file): root attribute
// layer_names listing every layer, one group per layer with attribute weight_names and one
// float32 dataset per weight. Keras's load_weights and read_keras_weights read it. Tested by
// tests/io/test_keras_weights_writer.cpp and through vggtl_weights (tests/apps/test_onnx_app.cpp).
#pragma once

#include <string>
#include <vector>

#include "io/hdf5/keras_weights.h"

namespace vggtl {

// Writes `layer_names` (weightless layers too, in model order) and, for each entry of `layers`
// (whose names must all be in layer_names), its weights under their WeightEntry::name (e.g.
// "block1_conv1_W_1:0") from f32 CPU values. Atomic (io/atomic_file.h); Error on I/O failure.
void write_keras1_weights(const std::string& path, const std::vector<std::string>& layer_names,
                          const std::vector<LayerWeights>& layers);

}  // namespace vggtl
