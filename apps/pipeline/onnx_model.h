// The trained model as an ONNX file (io/onnx/onnx_export.h): the whole of it, base (fine-tuned
// convolutions included) and head, in inference mode (BatchNormalization with its moving
// statistics and epsilon, Dropout left out, softmax at the end), taking (N, S, S, 3) RGB images
// resized as the run resized them. Tested by tests/apps/test_onnx_app.cpp (onnxruntime's
// predictions against test_predictions.csv).
#pragma once

#include <string>
#include <vector>

#include "apps/pipeline/model_spec.h"
#include "io/onnx/onnx_export.h"
#include "kernels/resize_preprocess.h"
#include "layers/model.h"

namespace vggtl {

// The model's layers as the exporter's description, weights copied to the host.
OnnxModelDescription onnx_description(Model& model, const ModelSpec& spec, PixelTransform preprocessing,
                                      ResizeFilter interpolation, const std::vector<std::string>& class_names);
// onnx_description written to `path` (atomically).
void write_model_onnx(const std::string& path, Model& model, const ModelSpec& spec, PixelTransform preprocessing,
                      ResizeFilter interpolation, const std::vector<std::string>& class_names);

}  // namespace vggtl
