// The batch loader on a generated split of good and bad files: rows in the right place with
// the right labels, identical batches for 1 and 3 workers, bad files flagged, zeroed and
// listed (and found by scan), the partial last batch, steps per epoch, restarting an epoch,
// bf16 output, and the replaceable row stage.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/loader/dataset.h"
#include "io/loader/image_loader.h"
#include "io/loader/shuffle.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

constexpr int kS = 32;

// 32x32 PNGs are not resized, so with PixelTransform::None a row must equal its source pixels.
struct Split {
  SplitListing listing;
  std::vector<std::vector<uint8_t>> pixels;  // per item; empty for a bad file
};

Split make_split(const std::string& name) {
  const std::string root = test::temp_dir(name);
  std::vector<std::string> bad_names;
  for (int i = 0; i < 23; ++i) {
    const std::string cls = i % 3 == 0 ? "b_class" : "a_class";
    char file[32];
    std::snprintf(file, sizeof file, "img%02d", i);
    const std::string base = root + "/" + cls + "/" + file;
    std::filesystem::create_directories(root + "/" + cls);
    if (i == 4) {
      test::write_file(base + ".png", {});  // empty
    } else if (i == 9) {
      test::write_file(base + ".png", test::random_bytes(500, 9));  // not an image
    } else if (i == 17) {
      const auto rgb = test::pattern_image(40, 30, 3);
      auto jpeg = test::encode_jpeg(rgb.data(), 40, 30);
      jpeg.resize(jpeg.size() / 2);  // truncated
      test::write_file(base + ".jpg", jpeg);
    } else if (i % 5 == 1) {
      const auto rgb = test::pattern_image(45 + i, 37, 3, i);  // resized
      test::write_file(base + ".jpg", test::encode_jpeg(rgb.data(), 45 + i, 37));
    } else {
      const auto rgb = test::random_bytes(kS * kS * 3, i);
      test::write_file(base + ".png", test::encode_png(std::vector<uint16_t>(rgb.begin(), rgb.end()), kS, kS, {}));
    }
  }
  Split s;
  s.listing = list_split(root);
  for (const DataItem& item : s.listing.items) {
    std::vector<uint8_t> px;
    if (item.relpath.size() > 4 && item.relpath.substr(item.relpath.size() - 4) == ".png") {
      const auto bytes = test::read_file(item.path);
      RgbImage img;
      if (decode_image(bytes.data(), bytes.size(), &img).ok && img.width == kS) px = img.pixels;
    }
    s.pixels.push_back(px);
  }
  return s;
}

LoaderOptions options(int workers, PixelTransform t = PixelTransform::None) {
  LoaderOptions o;
  o.image_size = kS;
  o.batch_size = 5;
  o.workers = workers;
  o.transform = t;
  return o;
}

struct EpochRecord {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<int32_t>> labels;
  std::vector<std::vector<int64_t>> indices;
  std::vector<std::vector<uint8_t>> ok;
  std::vector<std::string> bad;
};

EpochRecord run_epoch(ImageLoader& loader, std::vector<int64_t> order, int64_t max_batches = -1) {
  EpochRecord r;
  loader.start_epoch(std::move(order), max_batches);
  while (const Batch* b = loader.next()) {
    EXPECT_EQ(b->number, static_cast<int64_t>(r.images.size()));
    const float* p = b->images.data<float>();
    r.images.emplace_back(p, p + b->images.numel());
    r.labels.push_back(b->labels);
    r.indices.push_back(b->indices);
    r.ok.push_back(b->ok);
    for (const BadFile& f : b->bad) r.bad.push_back(f.path + ": " + f.reason);
  }
  return r;
}

TEST(ImageLoader, RowsLabelsAndBadFilesInOneEpoch) {
  const Split split = make_split("split");
  ImageLoader loader(split.listing.items, options(2));
  const auto order = shuffle_order(loader.size(), 5, 0);
  const EpochRecord r = run_epoch(loader, order);
  ASSERT_EQ(r.images.size(), 5u);  // 23 items in batches of 5: the last holds 3
  EXPECT_EQ(r.indices.back().size(), 3u);
  size_t checked = 0;
  for (size_t b = 0; b < r.images.size(); ++b) {
    for (size_t row = 0; row < r.indices[b].size(); ++row) {
      const int64_t idx = r.indices[b][row];
      EXPECT_EQ(idx, order[b * 5 + row]);
      EXPECT_EQ(r.labels[b][row], split.listing.items[idx].label);
      const float* px = r.images[b].data() + row * kS * kS * 3;
      if (!split.pixels[idx].empty()) {
        ASSERT_TRUE(r.ok[b][row]);
        for (int i = 0; i < kS * kS * 3; ++i) ASSERT_EQ(px[i], float(split.pixels[idx][i])) << "item " << idx;
        ++checked;
      }
      if (!r.ok[b][row]) {
        for (int i = 0; i < kS * kS * 3; ++i) ASSERT_EQ(px[i], 0.0f) << "bad row not zeroed";
      }
    }
  }
  EXPECT_GT(checked, 10u);
  ASSERT_EQ(r.bad.size(), 3u);
  int empty = 0, unknown = 0, truncated = 0;
  for (const std::string& b : r.bad) {
    empty += b.find("img04.png: empty file") != std::string::npos;
    unknown += b.find("img09.png: not an image") != std::string::npos;
    truncated += b.find("img17.jpg: truncated JPEG data") != std::string::npos;
  }
  EXPECT_EQ(empty + unknown + truncated, 3) << r.bad[0] << " | " << r.bad[1] << " | " << r.bad[2];

  const std::vector<BadFile> scanned = loader.scan();
  ASSERT_EQ(scanned.size(), 3u);
  for (size_t i = 1; i < scanned.size(); ++i) EXPECT_LT(scanned[i - 1].index, scanned[i].index);
  for (const BadFile& f : scanned) EXPECT_EQ(f.path, split.listing.items[f.index].path);
}

TEST(ImageLoader, SameBatchesForOneAndThreeWorkers) {
  const Split split = make_split("split");
  ImageLoader one(split.listing.items, options(1, PixelTransform::Caffe));
  ImageLoader three(split.listing.items, options(3, PixelTransform::Caffe));
  EXPECT_EQ(one.workers(), 1);
  EXPECT_EQ(three.workers(), 3);
  for (uint32_t epoch = 0; epoch < 2; ++epoch) {
    const auto order = shuffle_order(one.size(), 11, epoch);
    const EpochRecord a = run_epoch(one, order), b = run_epoch(three, order);
    EXPECT_EQ(a.images, b.images);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.indices, b.indices);
    EXPECT_EQ(a.ok, b.ok);
    EXPECT_EQ(a.bad, b.bad);
  }
  EXPECT_EQ(one.scan().size(), three.scan().size());
}

TEST(ImageLoader, StepsPerEpochAndRestartingAnEpoch) {
  const Split split = make_split("split");
  ImageLoader loader(split.listing.items, options(2));
  const auto order = identity_order(loader.size());
  const EpochRecord full = run_epoch(loader, order);
  const EpochRecord two = run_epoch(loader, order, 2);
  ASSERT_EQ(two.images.size(), 2u);
  EXPECT_EQ(two.images[1], full.images[1]);
  // Abandon an epoch after one batch; the next epoch is unaffected by the queued work.
  loader.start_epoch(shuffle_order(loader.size(), 3, 9));
  ASSERT_NE(loader.next(), nullptr);
  const EpochRecord again = run_epoch(loader, order);
  EXPECT_EQ(again.images, full.images);
  EXPECT_EQ(again.indices, full.indices);
  EXPECT_EQ(batches_per_epoch(23, 5), 5);
  EXPECT_EQ(batches_per_epoch(30, 30), 1);
  EXPECT_EQ(batches_per_epoch(0, 30), 0);
}

TEST(ImageLoader, Bf16RowsAreTheRoundedF32Rows) {
  const Split split = make_split("split");
  LoaderOptions o = options(2, PixelTransform::Caffe);
  ImageLoader f32(split.listing.items, o);
  o.dtype = DType::BF16;
  ImageLoader b16(split.listing.items, o);
  const auto order = identity_order(f32.size());
  f32.start_epoch(order);
  b16.start_epoch(order);
  while (const Batch* a = f32.next()) {
    const Batch* b = b16.next();
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(b->images.dtype(), DType::BF16);
    const float* pa = a->images.data<float>();
    const bf16* pb = b->images.data<bf16>();
    for (int64_t i = 0; i < a->images.numel(); ++i) ASSERT_EQ(pb[i].bits, float_to_bf16(pa[i]).bits);
  }
  EXPECT_EQ(b16.next(), nullptr);
}

// A stage standing in for a future GPU stage: counts its calls and fails one row internally.
class RecordingStage : public RowStage {
 public:
  DecodeResult fill_row(const DataItem& item, Tensor& images, int64_t row, int slot, int worker) override {
    if (item.relpath == throw_on) throw std::runtime_error("stage failure");
    float* p = images.data<float>() + row * kS * kS * 3;
    for (int i = 0; i < kS * kS * 3; ++i) p[i] = static_cast<float>(item.label + 1);
    ++rows;
    return DecodeResult::success(ImageFormat::Png);
  }
  DecodeResult check(const DataItem&, int) override { return DecodeResult::success(ImageFormat::Png); }
  void finish_batch(Batch& batch, int slot) override {
    EXPECT_EQ(slot, batch.number % 2);
    ++batches;
  }
  std::string throw_on;
  std::atomic<int> rows{0};
  int batches = 0;
};

TEST(ImageLoader, ReplaceableStageAndInternalErrors) {
  const Split split = make_split("split");
  auto stage = std::make_unique<RecordingStage>();
  RecordingStage* raw = stage.get();
  ImageLoader loader(split.listing.items, options(3), std::move(stage));
  const EpochRecord r = run_epoch(loader, identity_order(loader.size()));
  EXPECT_EQ(raw->rows.load(), 23);
  EXPECT_EQ(raw->batches, 5);
  EXPECT_EQ(r.images[0][0], float(split.listing.items[0].label + 1));
  EXPECT_TRUE(loader.scan().empty());

  raw->throw_on = split.listing.items[7].relpath;  // batch 1
  loader.start_epoch(identity_order(loader.size()));
  ASSERT_NE(loader.next(), nullptr);
  EXPECT_THROW(loader.next(), std::runtime_error);
}

}  // namespace
}  // namespace vggtl
