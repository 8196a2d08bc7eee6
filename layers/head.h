// The reference classifier head of the transfer-learning job, with Keras's layer names:
// Flatten (flatten_1) -> Dense hidden, ReLU (FC_2) -> BatchNormalization (batch_normalization_1)
// -> Dropout (dropout_1) -> Dense classes (softmax; it outputs logits, the softmax is in the
// loss). Tested in tests/layers/test_head.cpp.
#pragma once

#include <cstdint>

#include "layers/model.h"

namespace vggtl {

struct HeadConfig {
  int64_t hidden = 64;
  float dropout = 0.5f;
  int64_t classes = 2;
};

// Appends the head to `model`, whose output so far is shaped `features` (without the batch
// dimension; e.g. (7, 7, 512) after the VGG16 base, or (25088) from a feature file).
void add_head(Model& model, const Shape& features, const HeadConfig& config);

}  // namespace vggtl
