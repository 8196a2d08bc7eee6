// The batch decoder and its pool: DecodePool covers every index once and passes exceptions on;
// GpuJpegBatch on the CPU twins equals libjpeg exactly on a mixed batch and reports the files it
// leaves to the CPU decoder; on a GPU the same batch against libjpeg, within the spec's bound.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "io/gpu_jpeg.h"
#include "support/jpeg_fixtures.h"
#include "test_util.h"

namespace vggtl {
namespace {

using test::JpegFixture;
using test::JpegStorage;

TEST(DecodePool, EveryIndexExactlyOnce) {
  for (int workers : {1, 2, 5}) {
    DecodePool pool(workers);
    EXPECT_EQ(pool.workers(), workers);
    for (int64_t n : {0, 1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << workers << " workers, n " << n;
    }
  }
}

TEST(DecodePool, RethrowsTheFirstExceptionAndStaysUsable) {
  DecodePool pool(3);
  EXPECT_THROW(pool.parallel_for(100, [](int64_t i) {
    if (i == 42) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(10, [&](int64_t i) { sum += i; });
  EXPECT_EQ(sum.load(), 45);
}

struct MixedBatch {
  std::vector<std::vector<uint8_t>> files;
  std::vector<bool> expect_decoded;
  std::vector<JpegInput> inputs() const {
    std::vector<JpegInput> in;
    for (const auto& f : files) in.push_back(JpegInput{f.data(), f.size()});
    return in;
  }
};

MixedBatch mixed_batch() {
  MixedBatch b;
  auto add = [&](JpegFixture f, bool decoded) {
    b.files.push_back(test::encode_jpeg(f));
    b.expect_decoded.push_back(decoded);
  };
  JpegFixture f;
  f.width = 250;
  f.height = 187;
  add(f, true);
  f.width = 1;
  f.height = 1;
  add(f, true);
  f.width = 33;
  f.height = 17;
  f.storage = JpegStorage::Gray;
  f.progressive = true;
  add(f, true);
  f.storage = JpegStorage::CMYK;
  f.progressive = false;
  f.sampling(1, 1, 1, 1, 1, 1);
  add(f, false);  // not for the GPU stages
  f.storage = JpegStorage::RGB;
  f.sampling(2, 1);
  f.restart_interval = 2;
  add(f, true);
  f = JpegFixture{};
  f.width = 120;
  f.height = 80;
  std::vector<uint8_t> cut = test::encode_jpeg(f);
  cut.resize(cut.size() / 2);
  b.files.push_back(cut);  // corrupt: fails in entropy decoding
  b.expect_decoded.push_back(false);
  b.files.push_back({1, 2, 3, 4});  // not a JPEG
  b.expect_decoded.push_back(false);
  f.sampling(1, 2);
  f.width = 17;
  f.height = 31;
  f.quality = 100;
  add(f, true);
  return b;
}

// Compares every decoded item with libjpeg; returns (identical bytes, total bytes, worst diff).
struct Agreement {
  int64_t equal = 0, total = 0, worst = 0;
};

Agreement compare_with_libjpeg(const GpuJpegBatch& batch, const MixedBatch& b) {
  Agreement a;
  const Tensor all = batch.rgb().is_cuda() ? test::host_copy(batch.rgb()) : batch.rgb();
  for (size_t i = 0; i < b.files.size(); ++i) {
    const GpuJpegItem& it = batch.items()[i];
    EXPECT_EQ(it.decoded, b.expect_decoded[i]) << "item " << i << ": " << it.reason;
    if (!it.decoded) {
      EXPECT_FALSE(it.reason.empty()) << "item " << i;
      continue;
    }
    test::DecodedImage ref;
    std::string why;
    EXPECT_TRUE(test::libjpeg_decode_rgb(b.files[i], &ref, &why)) << why;
    EXPECT_EQ(it.width, ref.width);
    EXPECT_EQ(it.height, ref.height);
    const uint8_t* got = all.data<uint8_t>() + it.rgb_offset;
    for (size_t k = 0; k < ref.rgb.size(); ++k) {
      ++a.total;
      a.equal += got[k] == ref.rgb[k];
      a.worst = std::max<int64_t>(a.worst, std::abs(int{got[k]} - int{ref.rgb[k]}));
    }
  }
  return a;
}

TEST(JpegBatch, CpuTwinsEqualLibjpegAndReportFallbacks) {
  DecodePool pool(2);
  GpuJpegBatch batch(Device::cpu(), &pool);
  const MixedBatch b = mixed_batch();
  batch.decode(b.inputs());
  ASSERT_EQ(batch.items().size(), b.files.size());
  const Agreement a = compare_with_libjpeg(batch, b);
  EXPECT_EQ(a.equal, a.total);
  EXPECT_GT(a.total, 0);
  EXPECT_EQ(batch.fallbacks(), (std::vector<size_t>{3, 5, 6}));
  EXPECT_NE(batch.items()[3].reason.find("CMYK"), std::string::npos) << batch.items()[3].reason;
  EXPECT_NE(batch.items()[5].reason.find("Premature"), std::string::npos) << batch.items()[5].reason;
  const Tensor im = batch.image(0);
  EXPECT_EQ(im.shape(), (Shape{187, 250, 3}));
  EXPECT_THROW(batch.image(3), Error);
}

TEST(JpegBatch, ReusedAcrossBatchesOfDifferentSizes) {
  DecodePool pool(3);
  GpuJpegBatch batch(Device::cpu(), &pool);
  const MixedBatch b = mixed_batch();
  for (size_t take : {b.files.size(), size_t{2}, size_t{0}, b.files.size(), size_t{1}}) {
    MixedBatch part;
    part.files.assign(b.files.begin(), b.files.begin() + static_cast<long>(take));
    part.expect_decoded.assign(b.expect_decoded.begin(), b.expect_decoded.begin() + static_cast<long>(take));
    batch.decode(part.inputs());
    ASSERT_EQ(batch.items().size(), take);
    const Agreement a = compare_with_libjpeg(batch, part);
    EXPECT_EQ(a.equal, a.total) << "batch of " << take;
  }
}

TEST(JpegBatch, AllFallbacksLeaveNoImages) {
  DecodePool pool(1);
  GpuJpegBatch batch(Device::cpu(), &pool);
  const std::vector<uint8_t> junk = {0xFF, 0xD8, 0xFF};
  batch.decode({JpegInput{junk.data(), junk.size()}, JpegInput{}});
  EXPECT_EQ(batch.fallbacks(), (std::vector<size_t>{0, 1}));
  EXPECT_FALSE(batch.rgb().defined());
}

TEST(JpegBatch, RefusesACudaDeviceThatIsNotThere) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  DecodePool pool(1);
  EXPECT_THROW(GpuJpegBatch(Device::cuda(), &pool), Error);
}

TEST(JpegBatchGpu, MatchesLibjpeg) {
  REQUIRE_CUDA_DEVICE();
  DecodePool pool(4);
  GpuJpegBatch gpu(Device::cuda(), &pool);
  const MixedBatch b = mixed_batch();
  for (int round = 0; round < 3; ++round) {  // the third reuses the first staging buffer
    gpu.decode(b.inputs());
    const Agreement a = compare_with_libjpeg(gpu, b);
    std::printf("GpuJpegBatch on the GPU vs libjpeg: %lld of %lld bytes identical, worst %lld\n",
                static_cast<long long>(a.equal), static_cast<long long>(a.total),
                static_cast<long long>(a.worst));
    // Spec bound for GPU pixels: >= 99.9% identical, never more than 1 apart (expect 100%).
    EXPECT_GE(static_cast<double>(a.equal), 0.999 * static_cast<double>(a.total));
    EXPECT_LE(a.worst, 1);
    EXPECT_EQ(gpu.fallbacks(), (std::vector<size_t>{3, 5, 6}));
  }
}

}  // namespace
}  // namespace vggtl
