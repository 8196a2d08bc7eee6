// Reading the VGG16 convolutional base out of an ONNX model: a Keras export (tf2onnx) or a
// torchvision export of vgg16().features, parsed with the ONNX project's own protobuf classes
// (libonnx_proto). The 13 Conv nodes are taken in graph order; their kernels (OIHW) and biases
// come from the initializers, also through Identity and Transpose nodes or Constant nodes.
// Tested by tests/io/test_onnx_weights.cpp; fuzzed by fuzz/fuzz_onnx_weights.cpp.
#pragma once

#include <string>

#include "io/hdf5/keras_weights.h"

namespace vggtl {

// True when `path` names an ONNX model by its extension (".onnx", any case). read_keras_weights
// sends such files here: a protobuf has no signature to recognise it by, and a stray byte string
// parses as some protobuf message, so the name decides and the parse then checks the content.
bool is_onnx_path(const std::string& path);

// The 13 conv layers as a WeightsFile of layout "onnx": layers block1_conv1 ... block5_conv3,
// each with kernel (3, 3, in, out) (HWIO, Keras's order; converted from ONNX's OIHW) and bias
// (out,), values always read. InputError, one line naming the file, for: a missing or empty
// file, one that is not an ONNX model, over the protobuf size limit, initializers in external
// files, fewer than 13 Conv nodes, or a Conv node that is not VGG16's (the message names the
// node and the layer it was taken for: shape, strides, padding, groups, dilations, data type).
WeightsFile read_onnx_weights(const std::string& path);

}  // namespace vggtl
