// The tf.keras 2.x `model_config` JSON of vggtl's architecture (VGG16 base + reference head),
// stored in every checkpoint so that Keras tools recognise the model they load weights into.
#pragma once

#include <string>

#include "apps/pipeline/model_spec.h"

namespace vggtl {

// Layers from spec.trainable_base are marked trainable, the rest of the base frozen.
std::string keras_model_config(const ModelSpec& spec);

// The same model as Keras 3's config.json (module/class_name/config/registered_name per layer,
// build_config, inbound nodes as Keras tensors, no compile_config), which keras.models.load_model
// rebuilds with no custom objects; layer names and order as keras_model_config's. Its input is
// the preprocessed image, as the model's (spec: --preprocessing).
std::string keras3_model_config(const ModelSpec& spec);

}  // namespace vggtl
