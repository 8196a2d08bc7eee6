// Augmented batch input: batch_input's good rows (moved to the device), one AugmentImage per
// row drawn on the host, then the augment kernel on that device.
#include "apps/pipeline/augment_input.h"

#include <vector>

#include "apps/pipeline/features.h"
#include "engine/context.h"
#include "engine/error.h"

namespace vggtl {

Tensor augmented_batch_input(const Batch& batch, Device device, DType out_dtype, const AugmentSpec& spec,
                             uint64_t seed, uint32_t epoch, PixelTransform transform) {
  const Tensor x = batch_input(batch, device);
  VGGTL_CHECK(x.dtype() == DType::F32 && x.shape().ndim() == 4 && x.shape()[3] == 3, "augment: batch rows ",
              x.str(), " are not (n, S, S, 3) f32 (the loader must keep raw RGB for augmentation)");
  std::vector<int64_t> indices;
  for (size_t r = 0; r < batch.ok.size(); ++r)
    if (batch.ok[r]) indices.push_back(batch.indices[r]);
  const int h = static_cast<int>(x.shape()[1]), w = static_cast<int>(x.shape()[2]);
  const std::vector<AugmentImage> items = augment_batch_items(spec, seed, epoch, indices, h, w);
  Tensor out = Tensor::empty(x.shape(), out_dtype, device);
  augment(out, x, items, transform);
  return out;
}

}  // namespace vggtl
