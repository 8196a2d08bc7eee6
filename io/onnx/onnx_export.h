// ONNX models out: a sequential model described layer by layer with Keras-shaped f32 weights
// (NHWC activations, HWIO conv kernels, (in, out) dense kernels), written as one ONNX file
// (opset 13, weights as initializers) that any ONNX runtime runs: input "image" (N, S, S, 3)
// float, RGB 0..255 when the caffe preprocessing is inside, output "probabilities" (N, classes).
// io knows no layers: apps/pipeline/onnx_model.cpp describes the trained model. Tested by
// tests/io/test_onnx_export.cpp (against onnxruntime, when present) and tests/apps (best.onnx).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace vggtl {

enum class OnnxLayerKind {
  Conv2D,              // 3x3, stride 1, "same"; weights kernel (3, 3, in, out), bias (out)
  MaxPool2D,           // 2x2, stride 2
  Flatten,             // NHWC order, as Keras flattens
  Dense,               // weights kernel (in, out), bias (out)
  BatchNormalization,  // inference: weights gamma, beta, moving_mean, moving_variance; epsilon
  Softmax,             // over the last axis
};

struct OnnxLayer {
  OnnxLayerKind kind;
  std::string name;
  std::vector<Tensor> weights;  // f32 CPU, Keras order and shapes
  bool relu = false;            // Conv2D, Dense: ReLU after
  double epsilon = 1e-3;        // BatchNormalization
};

struct OnnxModelDescription {
  int64_t image_size = 224;
  // true: the input is RGB 0..255 and the graph makes it BGR minus the ImageNet means (Keras's
  // caffe preprocess_input); false: the input goes to the first layer as it is.
  bool caffe_preprocessing = true;
  std::vector<OnnxLayer> layers;
  std::string producer_version;
  std::vector<std::pair<std::string, std::string>> metadata;  // class names, interpolation, ...
};

// Checks every weight's shape against the layer before it (internal Error when they do not fit)
// and writes the model atomically. Error on I/O failure.
void write_onnx_model(const std::string& path, const OnnxModelDescription& model);

}  // namespace vggtl
