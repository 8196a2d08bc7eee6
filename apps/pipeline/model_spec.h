// The one description of vggtl's architecture: the VGG16 base at an input size, the reference
// head, and which base layers train. build_model (model_wiring.h) builds it, keras_model_config
// (keras_config.h) describes it to Keras, spec_from_checkpoint reads it back from a file.
#pragma once

#include <string>
#include <vector>

#include "layers/head.h"
#include "layers/layer.h"

namespace vggtl {

struct ModelSpec {
  int image_size = 224;                        // (S, S, 3) input, S a multiple of 32
  Precision precision = Precision::TF32;       // of the base's convolutions on a GPU
  HeadConfig head;                             // hidden width, dropout rate, classes
  std::vector<std::string> trainable_base;     // base layers left trainable (fine-tuning)
};

}  // namespace vggtl
