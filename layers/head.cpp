// The reference head (see head.h).
#include "layers/head.h"

#include "layers/batch_normalization.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"

namespace vggtl {

void add_head(Model& model, const Shape& features, const HeadConfig& config) {
  VGGTL_CHECK(config.hidden > 0 && config.classes >= 2, "head: hidden ", config.hidden,
              ", classes ", config.classes);
  const int64_t flat = features.numel();
  VGGTL_CHECK(flat > 0, "head: empty input features ", features.str());
  model.emplace<Flatten>("flatten_1");
  model.emplace<Dense>("FC_2", flat, config.hidden, Activation::ReLU);
  model.emplace<BatchNormalization>("batch_normalization_1", config.hidden);
  model.emplace<Dropout>("dropout_1", config.dropout);
  model.emplace<Dense>("softmax", config.hidden, config.classes, Activation::None);
}

}  // namespace vggtl
