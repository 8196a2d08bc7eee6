// batch_input: the model's input from a loader batch, bad rows removed, whether the batch was
// built on the host (CPU stage) or by the hybrid stage (Batch::device_images, compacted with
// gather_rows): the same tensors. The Gpu suite does the same with the stage on the device.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/pipeline/features.h"
#include "io/loader/dataset.h"
#include "io/loader/gpu_row_stage.h"
#include "io/loader/shuffle.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

SplitListing make_split(const std::string& name) {
  const std::string root = test::temp_dir(name);
  std::filesystem::create_directories(root + "/a");
  std::filesystem::create_directories(root + "/b");
  for (int i = 0; i < 8; ++i) {
    const std::string base = root + (i % 2 ? "/a/" : "/b/") + "img" + std::to_string(i);
    const auto rgb = test::pattern_image(40 + i, 30, 3, static_cast<uint32_t>(i));
    if (i == 2 || i == 6) {
      test::write_file(base + ".jpg", test::random_bytes(100, static_cast<uint32_t>(i)));  // bad
    } else if (i == 5) {
      test::write_file(base + ".png", test::encode_png(std::vector<uint16_t>(rgb.begin(), rgb.end()), 40 + i, 30, {}));
    } else {
      test::JpegOptions o;
      o.h_samp = o.v_samp = 2;
      test::write_file(base + ".jpg", test::encode_jpeg(rgb.data(), 40 + i, 30, o));
    }
  }
  return list_split(root);
}

// Every batch's batch_input on `device`, copied to the host.
std::vector<std::vector<uint8_t>> inputs(ImageLoader& loader, Device device, std::vector<Shape>* shapes) {
  std::vector<std::vector<uint8_t>> out;
  loader.start_epoch(shuffle_order(loader.size(), 3, 0));
  while (const Batch* b = loader.next()) {
    const Tensor x = test::host_copy(batch_input(*b, device));
    EXPECT_EQ(x.dim(0), b->good());
    shapes->push_back(x.shape());
    const uint8_t* p = static_cast<const uint8_t*>(x.raw());
    out.emplace_back(p, p + x.nbytes());
  }
  return out;
}

void compare(Device device) {
  const SplitListing split = make_split("split");
  LoaderOptions o;
  o.image_size = 32;
  o.batch_size = 3;
  o.workers = 2;
  ImageLoader host(split.items, o, make_cpu_row_stage(o, 2));
  ImageLoader hybrid(split.items, o, make_gpu_row_stage(o, device, 2));
  std::vector<Shape> want_shapes, got_shapes;
  const auto want = inputs(host, device, &want_shapes);
  const auto got = inputs(hybrid, device, &got_shapes);
  EXPECT_EQ(want_shapes, got_shapes);
  ASSERT_EQ(want.size(), got.size());
  for (size_t b = 0; b < want.size(); ++b) EXPECT_EQ(want[b], got[b]) << "batch " << b;
  int64_t compacted = 0;
  for (const Shape& s : want_shapes) compacted += s[0] < 3;
  EXPECT_GE(compacted, 2);  // the partial last batch, and batches with bad rows
}

TEST(BatchInput, DeviceBuiltBatchesGiveTheHostBatchesInputs) { compare(Device::cpu()); }

TEST(BatchInputGpu, DeviceBuiltBatchesGiveTheHostBatchesInputs) {
  REQUIRE_CUDA_DEVICE();
  compare(Device::cuda());
}

}  // namespace
}  // namespace vggtl
