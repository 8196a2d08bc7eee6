// The training batch with augmentation: the good rows of a loader batch (decoded and resized
// with PixelTransform::None into f32, i.e. Keras's img_to_array(load_img(target_size))) go
// through kernels/augment.h on the model's device, keyed by (seed, epoch, item index), and come
// out preprocessed in the model's input dtype. Tests: tests/apps/test_augment_input.cpp.
#pragma once

#include <cstdint>

#include "engine/device.h"
#include "engine/dtype.h"
#include "io/loader/image_loader.h"
#include "kernels/augment.h"

namespace vggtl {

// x (good, S, S, 3) of `out_dtype` (F32 or BF16) on `device`: row k is the k-th good row of the
// batch, transformed with the parameters drawn for its item index in `epoch` and then given
// `transform` (the model's preprocessing). The batch's images must be f32 with
// PixelTransform::None (LoaderOptions::transform), so that nothing comes before the augmentation.
Tensor augmented_batch_input(const Batch& batch, Device device, DType out_dtype, const AugmentSpec& spec,
                             uint64_t seed, uint32_t epoch, PixelTransform transform);

}  // namespace vggtl
