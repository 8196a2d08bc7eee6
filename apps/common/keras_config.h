// The tf.keras 2.x `model_config` JSON of vggtl's architecture (VGG16 base + reference head),
// stored in every checkpoint so that Keras tools recognise the model they load weights into.
#pragma once

#include <string>
#include <vector>

namespace vggtl {

struct ArchitectureSpec {
  int image_size = 224;
  int hidden = 64;
  double dropout = 0.5;
  int classes = 2;
  bool base_trainable = false;  // every base layer
  std::vector<std::string> trainable_layers;  // base layers trainable besides (fine-tuning)
};

std::string keras_model_config(const ArchitectureSpec& a);

}  // namespace vggtl
