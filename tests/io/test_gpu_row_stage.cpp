// The hybrid row stage against the CPU stage on a generated split of JPEGs of many samplings,
// sizes and codings mixed with PNG, BMP, CMYK and bad files: every batch's rows, flags, labels
// and bad-file reasons identical bit for bit, over two shuffled epochs, an abandoned epoch, f32
// and bf16, nearest and bilinear, with an arena too small at first; scan() verdicts identical.
// On the CPU the stage runs its chain on the CPU twins; the Gpu suite repeats it on the device.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/loader/dataset.h"
#include "io/loader/gpu_row_stage.h"
#include "io/loader/image_loader.h"
#include "io/loader/shuffle.h"
#include "support/image_writer.h"
#include "support/jpeg_fixtures.h"
#include "test_util.h"

namespace vggtl {
namespace {

using test::JpegFixture;
using test::JpegStorage;

// An RGB-stored JPEG whose Adobe marker names an unknown transform: libjpeg warns and decodes it
// as YCbCr; the CPU decoder tolerates that warning, the entropy decoder does not.
std::vector<uint8_t> jpeg_with_unknown_adobe_transform() {
  JpegFixture f;
  f.width = 23;
  f.height = 19;
  f.storage = JpegStorage::RGB;
  f.sampling(1, 1);
  std::vector<uint8_t> j = test::encode_jpeg(f);
  for (size_t i = 0; i + 16 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xEE && std::memcmp(&j[i + 4], "Adobe", 5) == 0) {
      j[i + 4 + 11] = 7;
      return j;
    }
  ADD_FAILURE() << "no Adobe marker in an RGB JPEG";
  return j;
}

struct Corpus {
  SplitListing listing;
  int jpegs_for_gpu = 0;  // files the GPU chain should take
};

Corpus make_corpus(const std::string& name) {
  const std::string root = test::temp_dir(name);
  for (const char* cls : {"cats", "dogs"}) std::filesystem::create_directories(root + "/" + cls);
  Corpus c;
  int k = 0;
  auto put = [&](const std::string& ext, const std::vector<uint8_t>& bytes) {
    char file[64];
    std::snprintf(file, sizeof file, "/%s/f%02d.%s", k % 3 ? "cats" : "dogs", k, ext.c_str());
    test::write_file(root + file, bytes);
    ++k;
  };
  auto jpeg = [&](int w, int h, int h0, int v0, JpegStorage storage = JpegStorage::YCbCr) {
    JpegFixture f;
    f.width = w;
    f.height = h;
    f.storage = storage;
    f.sampling(h0, v0);
    f.seed = static_cast<uint64_t>(k);
    return f;
  };
  auto encode = [&](const JpegFixture& f) {
    std::vector<uint8_t> bytes = test::encode_jpeg(f);
    EXPECT_FALSE(bytes.empty()) << "libjpeg refused to encode " << f.str();
    return bytes;
  };
  const int sampling[][2] = {{2, 2}, {1, 1}, {2, 1}, {1, 2}, {4, 1}, {1, 4}, {3, 1}, {2, 4}};
  const int sizes[][2] = {{61, 47}, {33, 20}, {50, 31}, {29, 45}, {70, 18}, {18, 70}, {37, 29}, {41, 53}};
  for (int i = 0; i < 8; ++i) {
    put("jpg", encode(jpeg(sizes[i][0], sizes[i][1], sampling[i][0], sampling[i][1])));
    ++c.jpegs_for_gpu;
  }
  JpegFixture f = jpeg(37, 29, 1, 1, JpegStorage::Gray);
  put("jpg", encode(f));
  f = jpeg(40, 40, 1, 1, JpegStorage::RGB);
  put("jpg", encode(f));
  f = jpeg(100, 75, 2, 2);
  f.progressive = true;
  put("jpg", encode(f));
  f = jpeg(64, 48, 2, 2);
  f.arithmetic = true;
  f.content = test::ImageContent::Noise;
  put("jpg", encode(f));
  f = jpeg(45, 33, 2, 1);
  f.restart_interval = 2;
  f.quality = 100;
  put("jpg", encode(f));
  f = jpeg(300, 200, 2, 2);
  put("jpg", encode(f));
  for (const auto& wh : {std::pair<int, int>{1, 1}, {2, 2}, {3, 5}}) {  // fancy upsampling's edge cases
    f = jpeg(wh.first, wh.second, 2, wh.second > 2 ? 1 : 2);
    put("jpg", encode(f));
  }
  f = jpeg(31, 17, 1, 1, JpegStorage::Gray);
  f.progressive = true;
  put("jpg", encode(f));
  c.jpegs_for_gpu += 10;
  // The CPU route: CMYK and YCCK, a tolerated warning, a fractional sampling (bad on both).
  f = jpeg(21, 13, 1, 1, JpegStorage::CMYK);
  f.sampling(1, 1, 1, 1, 1, 1);
  put("jpg", encode(f));
  f = jpeg(22, 14, 2, 2, JpegStorage::YCCK);
  put("jpeg", encode(f));
  put("jpg", jpeg_with_unknown_adobe_transform());
  f = jpeg(30, 30, 3, 1);
  f.sampling(3, 1, 2, 1, 1, 1);
  const std::vector<uint8_t> fractional = test::encode_jpeg(f);
  if (!fractional.empty()) put("jpg", fractional);
  // Other formats and bad files.
  const auto rgb = test::random_bytes(35 * 26 * 3, 5);
  put("png", test::encode_png(std::vector<uint16_t>(rgb.begin(), rgb.end()), 35, 26, {}));
  put("bmp", test::encode_bmp(std::vector<uint16_t>(rgb.begin(), rgb.end()), 35, 26, {}));
  std::vector<uint8_t> cut = test::encode_jpeg(jpeg(80, 60, 2, 2));
  cut.resize(cut.size() * 2 / 3);
  put("jpg", cut);                                     // truncated: fails in entropy decoding
  put("jpg", test::jpeg_claiming_size(20000, 20000));  // over the pixel limit
  put("jpg", {});                                      // empty
  put("png", test::random_bytes(300, 3));              // not an image
  c.listing = list_split(root);
  EXPECT_EQ(static_cast<int>(c.listing.items.size()), k);
  return c;
}

// Everything a consumer sees of an epoch; rows from device_images when the stage built them.
struct Epoch {
  std::vector<std::vector<uint8_t>> rows;  // per batch, raw bytes
  std::vector<std::vector<int32_t>> labels;
  std::vector<std::vector<int64_t>> indices;
  std::vector<std::vector<uint8_t>> ok;
  std::vector<std::string> bad;
};

Epoch run_epoch(ImageLoader& loader, const std::vector<int64_t>& order, bool device_rows) {
  Epoch e;
  loader.start_epoch(order);
  while (const Batch* b = loader.next()) {
    EXPECT_EQ(b->device_images.defined(), device_rows);
    Tensor rows = device_rows ? b->device_images : b->images;
    if (rows.is_cuda()) rows = test::host_copy(rows);
    EXPECT_EQ(rows.shape(), b->images.shape());
    EXPECT_EQ(rows.dtype(), b->images.dtype());
    const uint8_t* p = static_cast<const uint8_t*>(rows.raw());
    e.rows.emplace_back(p, p + rows.nbytes());
    e.labels.push_back(b->labels);
    e.indices.push_back(b->indices);
    e.ok.push_back(b->ok);
    for (const BadFile& f : b->bad) e.bad.push_back(f.path + ": " + f.reason);
  }
  return e;
}

void expect_same(const Epoch& want, const Epoch& got, const std::string& what) {
  ASSERT_EQ(want.rows.size(), got.rows.size()) << what;
  for (size_t b = 0; b < want.rows.size(); ++b) {
    EXPECT_EQ(want.indices[b], got.indices[b]) << what << ", batch " << b;
    EXPECT_EQ(want.labels[b], got.labels[b]) << what << ", batch " << b;
    EXPECT_EQ(want.ok[b], got.ok[b]) << what << ", batch " << b;
    ASSERT_EQ(want.rows[b].size(), got.rows[b].size());
    const size_t row_bytes = want.rows[b].size() / want.indices[b].size();
    for (size_t r = 0; r < want.indices[b].size(); ++r)
      EXPECT_EQ(std::memcmp(want.rows[b].data() + r * row_bytes, got.rows[b].data() + r * row_bytes, row_bytes), 0)
          << what << ": row of item " << want.indices[b][r] << " differs (batch " << b << ", row " << r << ")";
  }
  EXPECT_EQ(want.bad, got.bad) << what;
}

struct Config {
  ResizeFilter filter;
  DType dtype;
  PixelTransform transform;
  int workers;
  int64_t arena_bytes;  // 0: the default
};

LoaderOptions options(const Config& c) {
  LoaderOptions o;
  o.image_size = 32;
  o.batch_size = 5;
  o.filter = c.filter;
  o.dtype = c.dtype;
  o.transform = c.transform;
  o.workers = c.workers;
  return o;
}

// Two shuffled epochs, an abandoned one, and scan(): the hybrid stage on `device` vs the CPU stage.
void compare_stages(const Corpus& corpus, const Config& c, Device device) {
  const LoaderOptions o = options(c);
  const std::string what = std::string(resize_filter_name(c.filter)) + " " + dtype_name(c.dtype) + ", " +
                           std::to_string(c.workers) + " workers on " + device.str();
  ImageLoader cpu(corpus.listing.items, o, make_cpu_row_stage(o, c.workers));
  auto stage = make_gpu_row_stage(o, device, c.workers, c.arena_bytes);
  const GpuRowStage* hybrid = stage.get();
  ImageLoader gpu(corpus.listing.items, o, std::move(stage));
  for (uint32_t epoch = 0; epoch < 2; ++epoch) {
    const auto order = shuffle_order(cpu.size(), 21, epoch);
    expect_same(run_epoch(cpu, order, false), run_epoch(gpu, order, true), what + ", epoch " + std::to_string(epoch));
    if (epoch == 0) {
      gpu.start_epoch(shuffle_order(cpu.size(), 4, 4));
      ASSERT_NE(gpu.next(), nullptr);  // abandoned with the second batch in flight
    }
  }
  const GpuRowCounts n = hybrid->counts();
  EXPECT_GE(n.gpu, corpus.jpegs_for_gpu) << what;  // not a comparison of the CPU route with itself
  EXPECT_GT(n.cpu, 0) << what;
  if (c.arena_bytes > 0) {
    EXPECT_GT(n.arena_full, 0) << what;
  }
  const std::vector<BadFile> want = cpu.scan(), got = gpu.scan();
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].index, got[i].index);
    EXPECT_EQ(want[i].reason, got[i].reason) << want[i].path;
  }
  EXPECT_GE(want.size(), 4u);  // truncated, over the pixel limit, empty, not an image
}

const Config kConfigs[] = {
    {ResizeFilter::Nearest, DType::F32, PixelTransform::Caffe, 2, 0},
    {ResizeFilter::Bilinear, DType::BF16, PixelTransform::None, 3, 4096},  // arena full at first
    {ResizeFilter::Bilinear, DType::F32, PixelTransform::Caffe, 1, 0},
};

TEST(HybridRowStage, CpuTwinRouteGivesTheCpuStagesRows) {
  const Corpus corpus = make_corpus("corpus");
  for (const Config& c : kConfigs) compare_stages(corpus, c, Device::cpu());
}

TEST(HybridRowStage, DecodeModeChoosesTheStage) {
  const Corpus corpus = make_corpus("corpus");
  LoaderOptions o = options(kConfigs[0]);
  EXPECT_EQ(ImageLoader(corpus.listing.items, o).decoder(), "cpu");  // auto, consumed on the CPU
  o.decode = DecodeMode::Gpu;
  EXPECT_EQ(ImageLoader(corpus.listing.items, o).decoder(), "hybrid jpeg on the cpu twins");
  o.decode = DecodeMode::Auto;
  o.device = Device::cuda();
  EXPECT_EQ(ImageLoader(corpus.listing.items, o).decoder(), cuda_available() ? "hybrid jpeg on cuda:0" : "cpu");
  o.decode = DecodeMode::Cpu;
  EXPECT_EQ(ImageLoader(corpus.listing.items, o).decoder(), "cpu");
  EXPECT_STREQ(decode_mode_name(DecodeMode::Auto), "auto");
  EXPECT_STREQ(decode_mode_name(DecodeMode::Gpu), "gpu");
  if (!cuda_available()) {
    EXPECT_THROW(make_gpu_row_stage(o, Device::cuda(), 1), Error);
  }
}

TEST(HybridRowStageGpu, DeviceRouteGivesTheCpuStagesRows) {
  REQUIRE_CUDA_DEVICE();
  const Corpus corpus = make_corpus("corpus");
  for (const Config& c : kConfigs) compare_stages(corpus, c, Device::cuda());
}

// A consumer that never waits: each batch is only copied on the main stream into one device
// tensor, so the stage's events alone keep batch k+2's writes off the rows batch k is read from.
TEST(HybridRowStageGpu, RowsSurviveAConsumerThatNeverWaits) {
  REQUIRE_CUDA_DEVICE();
  const Corpus corpus = make_corpus("corpus");
  const Config c = kConfigs[0];
  const LoaderOptions o = options(c);
  const Device gpu = Device::cuda();
  ImageLoader cpu(corpus.listing.items, o, make_cpu_row_stage(o, c.workers));
  ImageLoader hybrid(corpus.listing.items, o, make_gpu_row_stage(o, gpu, c.workers));
  const auto order = shuffle_order(cpu.size(), 8, 1);
  const Epoch want = run_epoch(cpu, order, false);
  const int64_t S = o.image_size;
  Tensor all = Tensor::empty(Shape{cpu.size(), S, S, 3}, o.dtype, gpu);
  int64_t at = 0;
  hybrid.start_epoch(order);
  while (const Batch* b = hybrid.next()) {
    Tensor rows = all.slice(at, at + b->size());
    copy(rows, b->device_images);  // queued on the main stream, not waited for
    at += b->size();
  }
  const Tensor host = test::host_copy(all);
  const uint8_t* p = static_cast<const uint8_t*>(host.raw());
  size_t offset = 0;
  for (size_t b = 0; b < want.rows.size(); ++b) {
    EXPECT_EQ(std::memcmp(p + offset, want.rows[b].data(), want.rows[b].size()), 0) << "batch " << b;
    offset += want.rows[b].size();
  }
}

}  // namespace
}  // namespace vggtl
