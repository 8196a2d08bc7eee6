// ONNX models of the VGG16 base for tests, built with the ONNX project's protobuf classes: the
// torchvision layout (OIHW kernels as initializers) or the Keras exporter's (HWIO kernels behind
// a Transpose node, NHWC input), with random weights the test keeps to compare against. Used by
// tests/io/test_onnx_weights.cpp and the apps' ONNX tests.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vggtl::test {

struct OnnxVggOptions {
  bool keras_layout = false;  // kernels HWIO behind Transpose(perm 3,2,0,1); bias 2 via Identity, 3 via Constant
  int layers_with_weights = 13;  // the later Conv nodes name weights the file does not hold
  uint64_t seed = 1;
};

struct OnnxVggModel {
  onnx::ModelProto model;
  std::vector<std::vector<float>> kernels_oihw;  // per conv: (out, in, 3, 3)
  std::vector<std::vector<float>> biases;
  std::vector<int64_t> in_channels, out_channels;
};

OnnxVggModel make_vgg16_onnx(const OnnxVggOptions& options);
// Serialises `model` to `path` (throws std::runtime_error when it cannot).
void write_onnx(const onnx::ModelProto& model, const std::string& path);
// The Conv nodes of the model's graph, in order (for tests that change one).
std::vector<onnx::NodeProto*> conv_nodes(onnx::ModelProto& model);

}  // namespace vggtl::test
