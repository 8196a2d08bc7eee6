// The augmented training input: bad rows dropped, each good row augmented with the parameters
// of its own item index and epoch (not of its position in the batch), and the preprocessing
// applied after the augmentation; the same result for F32 and BF16 up to bf16 rounding.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "apps/pipeline/augment_input.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

Batch make_batch(int n, int s) {
  Batch b;
  b.images = Tensor::empty({n, s, s, 3}, DType::F32);
  const std::vector<uint8_t> bytes = test::random_bytes(static_cast<size_t>(n) * s * s * 3, 3);
  for (size_t i = 0; i < bytes.size(); ++i) b.images.data<float>()[i] = bytes[i];
  for (int r = 0; r < n; ++r) {
    b.labels.push_back(r % 2);
    b.indices.push_back(100 + 7 * r);
    b.ok.push_back(r == 1 ? 0 : 1);  // row 1 is a bad file
  }
  return b;
}

AugmentSpec spec() {
  AugmentSpec s;
  s.hflip = true;
  s.shift = 0.1;
  s.zoom_lo = 0.8, s.zoom_hi = 1.2;
  s.rotate = 20;
  s.brightness = true, s.brightness_lo = 0.7, s.brightness_hi = 1.3;
  return s;
}

TEST(AugmentInput, GoodRowsKeyedByTheirItemIndex) {
  const int n = 4, s = 32;
  const Batch b = make_batch(n, s);
  const Tensor x = augmented_batch_input(b, Device::cpu(), DType::F32, spec(), 9, 3, PixelTransform::Caffe);
  ASSERT_EQ(x.shape(), Shape({3, s, s, 3}));
  const size_t row = static_cast<size_t>(s) * s * 3;
  int k = 0;
  for (int r = 0; r < n; ++r) {
    if (!b.ok[r]) continue;
    const AugmentImage item = augment_prepare(augment_draw(spec(), 9, 3, static_cast<uint64_t>(b.indices[r]), s, s), s, s);
    std::vector<float> want(row);
    augment_cpu(want.data(), b.images.data<float>() + r * row, &item, 1, s, s, PixelTransform::Caffe);
    EXPECT_EQ(std::memcmp(want.data(), x.data<float>() + k * row, row * sizeof(float)), 0) << "row " << r;
    ++k;
  }
  // Another epoch draws other transforms.
  const Tensor y = augmented_batch_input(b, Device::cpu(), DType::F32, spec(), 9, 4, PixelTransform::Caffe);
  EXPECT_NE(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0);
  // BF16 is the F32 result rounded.
  const Tensor z = augmented_batch_input(b, Device::cpu(), DType::BF16, spec(), 9, 3, PixelTransform::Caffe);
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(z.data<bf16>()[i].bits, float_to_bf16(x.data<float>()[i]).bits) << i;
}

TEST(AugmentInput, RefusesPreprocessedRows) {
  Batch b = make_batch(2, 8);
  b.images = Tensor::zeros({2, 8, 8, 3}, DType::BF16);
  EXPECT_NE(test::error_of([&] {
              augmented_batch_input(b, Device::cpu(), DType::F32, spec(), 1, 1, PixelTransform::Caffe);
            }).find("must keep raw RGB"),
            std::string::npos);
}

}  // namespace
}  // namespace vggtl
