// The tf.keras 2.x `model_config` JSON of vggtl's architecture (VGG16 base + reference head),
// stored in every checkpoint so that Keras tools recognise the model they load weights into.
#pragma once

#include <string>

#include "apps/pipeline/model_spec.h"

namespace vggtl {

// Layers from spec.trainable_base are marked trainable, the rest of the base frozen.
std::string keras_model_config(const ModelSpec& spec);

}  // namespace vggtl
