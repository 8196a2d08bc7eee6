// Loading a trained model for vggtl_eval and vggtl_predict: our checkpoints (self-contained,
// or head-only with the base from --weights) and Keras full-model files of the reference
// architecture (preprocessing and class names then come from options).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/pipeline/model_wiring.h"
#include "engine/device.h"
#include "io/loader/image_loader.h"
#include "kernels/resize_preprocess.h"
#include "layers/layer.h"

namespace CLI {
class App;
}

namespace vggtl {

struct InferenceOptions {
  std::string model;      // checkpoint path
  std::string weights;    // base weights for a head-only checkpoint ("" = the Keras cache default)
  DeviceChoice device = DeviceChoice::Auto;
  Precision precision = Precision::TF32;
  std::optional<PixelTransform> preprocessing;  // unset: from the checkpoint (Keras files: caffe)
  std::optional<ResizeFilter> interpolation;    // unset: from the checkpoint (Keras files: nearest)
  int batch_size = 30;
  int workers = 0;
  DecodeMode decode = DecodeMode::Auto;
  void add_to(CLI::App& app);
};

struct InferenceModel {
  std::unique_ptr<Model> model;
  ModelSpec spec;
  int head_start = 0;
  std::vector<std::string> class_names;  // empty for a Keras file: the caller supplies them
  LoaderOptions loader;
  std::string source;  // "vggtl checkpoint" or "Keras full-model file"
};

InferenceModel load_inference_model(const InferenceOptions& o);

}  // namespace vggtl
