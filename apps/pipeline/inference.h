// Loading a trained model for vggtl_eval and vggtl_predict: our checkpoints (self-contained,
// or head-only with the base from --weights) and Keras full-model files of the reference
// architecture (preprocessing and class names then come from options).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/pipeline/model_wiring.h"
#include "io/loader/image_loader.h"

namespace CLI {
class App;
}

namespace vggtl {

struct InferenceOptions {
  std::string model;      // checkpoint path
  std::string weights;    // base weights for a head-only checkpoint ("" = the Keras cache default)
  std::string device = "auto";
  std::string precision = "tf32";
  std::string preprocessing;  // "" = from the checkpoint (Keras files: caffe)
  std::string interpolation;  // "" = from the checkpoint (Keras files: nearest)
  int batch_size = 30;
  int workers = 0;
  std::string decode = "auto";  // auto, cpu or gpu
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
