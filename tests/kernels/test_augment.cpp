// Augmentation: hand-computed flips, shifts, zooms, a quarter turn and Pillow's brightness
// rounding; the Philox draw (keyed, in range, flips near one half); a CPU sweep of the CUDA
// per-thread function over its launch grid against the CPU twin (bit for bit); GPU vs CPU (bit
// for bit: the same float64 steps, rounded one by one on both); and Keras itself, reproduced by
// scripts/keras_augment_reference.py with scipy.ndimage and Pillow, on synthetic images and on
// photos from the shared dogs_vs_cats set resized as the loader resizes them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/context.h"
#include "io/image/image_decode.h"
#include "kernels/augment.h"
#include "kernels/augment_thread.h"
#include "kernels/resize_preprocess.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

// An (h, w, 3) image of whole values 0..255, as img_to_array gives.
std::vector<float> random_image(int n, int h, int w, uint32_t seed) {
  const std::vector<uint8_t> b = test::random_bytes(static_cast<size_t>(n) * h * w * 3, seed);
  return std::vector<float>(b.begin(), b.end());
}

std::vector<float> run_cpu(const std::vector<float>& in, const std::vector<AugmentImage>& items, int h, int w,
                           PixelTransform t = PixelTransform::None) {
  std::vector<float> out(in.size(), std::nanf(""));
  augment_cpu(out.data(), in.data(), items.data(), static_cast<int>(items.size()), h, w, t);
  return out;
}

float at(const std::vector<float>& img, int w, int r, int c, int k) { return img[(static_cast<size_t>(r) * w + c) * 3 + k]; }

TEST(AugmentCpu, NoTransformCopiesAndCaffeComesLast) {
  const int h = 3, w = 4;
  const std::vector<float> in = random_image(1, h, w, 1);
  const AugmentImage id = augment_prepare(AugmentParams{}, h, w);
  EXPECT_EQ(id.affine, 0);
  EXPECT_EQ(run_cpu(in, {id}, h, w), in);
  const std::vector<float> caffe = run_cpu(in, {id}, h, w, PixelTransform::Caffe);
  for (size_t i = 0; i < in.size(); i += 3) {
    EXPECT_EQ(caffe[i + 0], in[i + 2] - kCaffeMeanB);
    EXPECT_EQ(caffe[i + 1], in[i + 1] - kCaffeMeanG);
    EXPECT_EQ(caffe[i + 2], in[i + 0] - kCaffeMeanR);
  }
}

TEST(AugmentCpu, HorizontalFlipMirrorsColumns) {
  const int h = 2, w = 5;
  const std::vector<float> in = random_image(1, h, w, 2);
  AugmentParams p;
  p.flip = true;
  const std::vector<float> out = run_cpu(in, {augment_prepare(p, h, w)}, h, w);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int k = 0; k < 3; ++k) EXPECT_EQ(at(out, w, r, c, k), at(in, w, r, w - 1 - c, k));
}

TEST(AugmentCpu, WholePixelShiftRepeatsTheEdge) {
  // Keras's tx (drawn times the row count) lands on the column index after the (x, y) -> (row,
  // col) swap: source column c + tx, clamped to the last column by fill_mode 'nearest'.
  const int h = 3, w = 6;
  const std::vector<float> in = random_image(1, h, w, 3);
  AugmentParams p;
  p.tx = 2;
  p.ty = -1;
  const AugmentImage a = augment_prepare(p, h, w);
  EXPECT_EQ(a.affine, 1);
  const std::vector<float> out = run_cpu(in, {a}, h, w);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int k = 0; k < 3; ++k)
        EXPECT_EQ(at(out, w, r, c, k), at(in, w, std::max(r - 1, 0), std::min(c + 2, w - 1), k)) << r << "," << c;
}

TEST(AugmentCpu, ZoomScalesAboutTheCentre) {
  // zx = 2 on 5 columns: centre 2, source column 2 (c - 2) + 2 = 2c - 2, clamped to 0..4; zy =
  // 0.5 on 5 rows: source row (r - 2) / 2 + 2, halfway between rows for odd r.
  const int h = 5, w = 5;
  const std::vector<float> in = random_image(1, h, w, 4);
  AugmentParams p;
  p.zx = 2.0;
  p.zy = 0.5;
  const std::vector<float> out = run_cpu(in, {augment_prepare(p, h, w)}, h, w);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const int sc = std::clamp(2 * c - 2, 0, w - 1);
      for (int k = 0; k < 3; ++k) {
        const float want = r % 2 == 0 ? at(in, w, (r - 2) / 2 + 2, sc, k)
                                      : static_cast<float>(0.5 * at(in, w, (r - 3) / 2 + 2, sc, k) +
                                                           0.5 * at(in, w, (r - 1) / 2 + 2, sc, k));
        EXPECT_EQ(at(out, w, r, c, k), want) << r << "," << c << "," << k;
      }
    }
}

TEST(AugmentCpu, QuarterTurn) {
  // theta = 90: source column = (h - 1) - r, source row = c. cos(pi/2) is 6e-17, not 0, so the
  // taps' weights are 1 - 1e-16-ish: equal to the pixel within 1e-9.
  const int h = 7, w = 7;
  const std::vector<float> in = random_image(1, h, w, 5);
  AugmentParams p;
  p.theta = 90.0;
  const std::vector<float> out = run_cpu(in, {augment_prepare(p, h, w)}, h, w);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(at(out, w, r, c, k), at(in, w, c, h - 1 - r, k), 1e-9) << r << "," << c;
}

TEST(AugmentCpu, BrightnessTruncatesAsPillowBlends) {
  // Pillow 9.4: Brightness(0.7) of (10, 201, 250) is (7, 140, 175): 0.7f * 10 rounds to 7.0 in
  // float (6.99999988 in double would truncate to 6); 0.5 gives (5, 100, 125); 1.2 clips 300 to
  // 255 and gives (12, 241, 255). A value of 100.7 is first truncated to 100 (astype uint8).
  const float v[4] = {10, 201, 250, 100.7f};
  const float want07[4] = {7, 140, 175, 70};
  const float want05[4] = {5, 100, 125, 50};
  const float want12[4] = {12, 241, 255, 120};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(augment_brightness(v[i], 0.7f), want07[i]) << v[i];
    EXPECT_EQ(augment_brightness(v[i], 0.5f), want05[i]) << v[i];
    EXPECT_EQ(augment_brightness(v[i], 1.2f), want12[i]) << v[i];
    EXPECT_EQ(augment_brightness(v[i], 1.0f), std::floor(v[i]));
    EXPECT_EQ(augment_brightness(v[i], 0.0f), 0.0f);
  }
}

TEST(AugmentDraw, KeyedByEpochAndIndexAndInRange) {
  AugmentSpec s;
  s.hflip = true;
  s.shift = 0.1;
  s.zoom_lo = 0.8, s.zoom_hi = 1.2;
  s.rotate = 15;
  s.brightness = true, s.brightness_lo = 0.8, s.brightness_hi = 1.2;
  const int h = 224, w = 224;
  int flips = 0, n = 4000;
  double theta_sum = 0;
  for (int i = 0; i < n; ++i) {
    const AugmentParams p = augment_draw(s, 42, 3, static_cast<uint64_t>(i), h, w);
    EXPECT_TRUE(p.theta >= -15 && p.theta < 15) << p.theta;
    EXPECT_TRUE(std::fabs(p.tx) <= 0.1 * h && std::fabs(p.ty) <= 0.1 * w) << p.tx << " " << p.ty;
    EXPECT_TRUE(p.zx >= 0.8 && p.zx < 1.2 && p.zy >= 0.8 && p.zy < 1.2) << p.zx << " " << p.zy;
    EXPECT_TRUE(p.has_brightness && p.brightness >= 0.8 && p.brightness < 1.2) << p.brightness;
    EXPECT_NE(p.zx, p.zy);
    EXPECT_NE(p.tx / h, p.ty / w);
    flips += p.flip;
    theta_sum += p.theta;
  }
  // Binomial(4000, 0.5): standard deviation 31.6; 5 of them. Mean of U(-15, 15): sd 8.66/sqrt(n).
  EXPECT_NEAR(flips, n / 2, 160);
  EXPECT_NEAR(theta_sum / n, 0.0, 5 * 8.66 / std::sqrt(n));
  // The same key draws the same; another epoch, index or seed draws otherwise.
  const AugmentParams a = augment_draw(s, 42, 3, 17, h, w), b = augment_draw(s, 42, 3, 17, h, w);
  EXPECT_TRUE(a.theta == b.theta && a.tx == b.tx && a.ty == b.ty && a.zx == b.zx && a.zy == b.zy &&
              a.flip == b.flip && a.brightness == b.brightness);
  EXPECT_NE(a.theta, augment_draw(s, 42, 4, 17, h, w).theta);
  EXPECT_NE(a.theta, augment_draw(s, 42, 3, 18, h, w).theta);
  EXPECT_NE(a.theta, augment_draw(s, 43, 3, 17, h, w).theta);
  // Options that are off draw nothing (Keras's identity values).
  AugmentSpec only_flip;
  only_flip.hflip = true;
  const AugmentParams f = augment_draw(only_flip, 42, 3, 17, h, w);
  EXPECT_EQ(f.theta, 0.0);
  EXPECT_EQ(f.tx, 0.0);
  EXPECT_EQ(f.zx, 1.0);
  EXPECT_FALSE(f.has_brightness);
  EXPECT_EQ(augment_prepare(f, h, w).affine, 0);
}

TEST(AugmentDraw, UnitDoubleUsesFiftyThreeBits) {
  EXPECT_EQ(augment_unit_double(0, 0), 0.0);
  EXPECT_EQ(augment_unit_double(0xffffffffu, 0xffffffffu), 1.0 - std::ldexp(1.0, -53));
  EXPECT_EQ(augment_unit_double(0x80000000u, 0), 0.5);
}

AugmentSpec full_spec() {
  AugmentSpec s;
  s.hflip = true;
  s.shift = 0.2;
  s.zoom_lo = 0.7, s.zoom_hi = 1.3;
  s.rotate = 40;
  s.brightness = true, s.brightness_lo = 0.5, s.brightness_hi = 1.5;
  return s;
}

// Items for n images: drawn from the full spec, with a few single transforms mixed in.
std::vector<AugmentImage> mixed_items(int n, int h, int w, uint64_t seed) {
  std::vector<int64_t> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = 1000 + i;
  std::vector<AugmentImage> items = augment_batch_items(full_spec(), seed, 2, idx, h, w);
  if (n > 1) items[1] = augment_prepare(AugmentParams{}, h, w);
  if (n > 2) {
    AugmentParams p;
    p.flip = true;
    items[2] = augment_prepare(p, h, w);
  }
  return items;
}

template <typename OutT>
void sweep_matches_cpu(PixelTransform t) {
  const int n = 4, h = 37, w = 53;
  const std::vector<float> in = random_image(n, h, w, 9);
  const std::vector<AugmentImage> items = mixed_items(n, h, w, 5);
  const size_t size = static_cast<size_t>(n) * h * w * 3;
  std::vector<OutT> want(size), got(size + 64);
  augment_cpu(want.data(), in.data(), items.data(), n, h, w, t);
  OutT poison;
  std::memset(&poison, 0xff, sizeof poison);
  std::fill(got.begin(), got.end(), poison);
  test::sweep_grid(augment_blocks(n, h, w), kAugmentThreads, [&](uint32_t b, uint32_t th) {
    augment_thread(b, static_cast<int>(th), got.data(), in.data(), items.data(), n, h, w, t);
  });
  EXPECT_EQ(std::memcmp(got.data(), want.data(), size * sizeof(OutT)), 0);
  EXPECT_EQ(test::overwritten(got, size, poison), 0);
}

TEST(AugmentCpu, PerThreadSweepMatchesTheSpec) {
  sweep_matches_cpu<float>(PixelTransform::None);
  sweep_matches_cpu<float>(PixelTransform::Caffe);
  sweep_matches_cpu<bf16>(PixelTransform::Caffe);
}

TEST(AugmentCpu, TensorLevelChecksItsArguments) {
  Tensor in = Tensor::zeros({2, 4, 4, 3}, DType::F32);
  Tensor out = Tensor::zeros({2, 4, 4, 3}, DType::F32);
  const std::vector<AugmentImage> one(1);
  EXPECT_NE(test::error_of([&] { augment(out, in, one, PixelTransform::None); }).find("1 items for 2 images"),
            std::string::npos);
  Tensor wrong = Tensor::zeros({2, 4, 5, 3}, DType::F32);
  EXPECT_NE(test::error_of([&] { augment(wrong, in, std::vector<AugmentImage>(2), PixelTransform::None); })
                .find("does not match"),
            std::string::npos);
}

TEST(AugmentGpu, MatchesCpuBitForBit) {
  REQUIRE_CUDA_DEVICE();
  for (const auto& shape : {std::vector<int>{1, 32, 32}, std::vector<int>{5, 37, 53}, std::vector<int>{3, 224, 224}}) {
    const int n = shape[0], h = shape[1], w = shape[2];
    const std::vector<float> in = random_image(n, h, w, 11);
    const std::vector<AugmentImage> items = mixed_items(n, h, w, 12);
    Tensor hin = Tensor::empty({n, h, w, 3}, DType::F32);
    std::copy(in.begin(), in.end(), hin.data<float>());
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor want = Tensor::empty({n, h, w, 3}, dt);
      augment(want, hin, items, PixelTransform::Caffe);
      Tensor gin = to_device(hin, Device::cuda());
      Tensor gout = test::poisoned({n, h, w, 3}, dt, Device::cuda());
      augment(gout, gin, items, PixelTransform::Caffe);
      Tensor got = test::host_copy(gout);
      EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << n << "x" << h << "x" << w << " " << dtype_name(dt);
    }
  }
}

// ---- Keras cross-check ----

bool reference_tools(std::string* why) {
  std::string out;
  if (test::run_command(test::python() + " -c 'import numpy, scipy.ndimage, PIL'", &out) == 0) return true;
  *why = test::python() + " has no numpy, scipy and Pillow (set VGGTL_PYTHON): " + out;
  return false;
}

struct KerasResult {
  std::vector<float> values;
  std::string error;
};

// Runs the reference on (n, h, w, 3) images with the given parameters.
KerasResult keras_reference(const std::string& dir, const std::vector<float>& in, const std::vector<AugmentParams>& ps,
                            int h, int w) {
  const std::string in_path = dir + "/in.f32", params_path = dir + "/params.json", out_path = dir + "/out.f32";
  std::ofstream(in_path, std::ios::binary).write(reinterpret_cast<const char*>(in.data()),
                                                  static_cast<std::streamsize>(in.size() * sizeof(float)));
  nlohmann::json j{{"n", ps.size()}, {"h", h}, {"w", w}, {"images", nlohmann::json::array()}};
  for (const AugmentParams& p : ps)
    j["images"].push_back({{"theta", p.theta}, {"tx", p.tx}, {"ty", p.ty}, {"zx", p.zx}, {"zy", p.zy},
                           {"flip", p.flip},
                           {"brightness", p.has_brightness ? nlohmann::json(p.brightness) : nlohmann::json()}});
  std::ofstream(params_path) << j.dump();
  KerasResult r;
  std::string log;
  const int rc = test::run_command(test::python() + " " + VGGTL_SOURCE_DIR + "/scripts/keras_augment_reference.py " +
                                       in_path + " " + params_path + " " + out_path + " 2>&1",
                                   &log);
  if (rc != 0) {
    r.error = "reference failed (" + std::to_string(rc) + "): " + log;
    return r;
  }
  std::ifstream f(out_path, std::ios::binary);
  r.values.resize(in.size());
  f.read(reinterpret_cast<char*>(r.values.data()), static_cast<std::streamsize>(r.values.size() * sizeof(float)));
  if (!f) r.error = "short output from the reference";
  return r;
}

// Tolerance: values after the affine step within 1e-4 (they are float32 roundings of the same
// float64 sums; only the matrix entries, from numpy's dot and libm's cos/sin, may differ in the
// last bit); after brightness, whole numbers that may differ by 1 where a float32 lands on the
// other side of an integer before truncation, at most 1 value in 10^4. The run prints its worst.
void expect_matches_keras(const std::vector<float>& in, const std::vector<AugmentParams>& ps, int h, int w,
                          const std::string& what) {
  std::vector<AugmentImage> items;
  for (const AugmentParams& p : ps) items.push_back(augment_prepare(p, h, w));
  const std::vector<float> ours = run_cpu(in, items, h, w);
  const KerasResult keras = keras_reference(test::temp_dir("augment_keras"), in, ps, h, w);
  ASSERT_TRUE(keras.error.empty()) << keras.error;
  const size_t per_image = static_cast<size_t>(h) * w * 3;
  double worst = 0;
  int64_t off_by_one = 0, exact = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const double d = std::fabs(static_cast<double>(ours[i]) - keras.values[i]);
    ASSERT_FALSE(std::isnan(ours[i]) || std::isnan(keras.values[i])) << what << " value " << i;
    exact += d == 0;
    worst = test::worst_error(worst, d);
    if (ps[i / per_image].has_brightness) {
      ASSERT_LE(d, 1.0) << what << " value " << i << ": ours " << ours[i] << ", Keras " << keras.values[i];
      off_by_one += d != 0;
    } else {
      ASSERT_LE(d, 1e-4) << what << " value " << i << ": ours " << ours[i] << ", Keras " << keras.values[i];
    }
  }
  EXPECT_LE(off_by_one * 10000, static_cast<int64_t>(ours.size())) << what << ": " << off_by_one << " values off by 1";
  std::printf("%s: %zu values, %lld identical, worst difference %g, %lld off by one after brightness\n", what.c_str(),
              ours.size(), static_cast<long long>(exact), worst, static_cast<long long>(off_by_one));
}

std::vector<AugmentParams> params_for(int n, int h, int w, uint64_t seed) {
  std::vector<AugmentParams> ps;
  for (int i = 0; i < n; ++i) ps.push_back(augment_draw(full_spec(), seed, 1, static_cast<uint64_t>(i), h, w));
  // Single transforms and extremes: each step alone, a half turn, a strong zoom out.
  if (n > 5) {
    ps[0] = AugmentParams{};
    ps[0].flip = true;
    ps[1] = AugmentParams{};
    ps[1].has_brightness = true, ps[1].brightness = 0.7;
    ps[2] = AugmentParams{};
    ps[2].theta = 180.0;
    ps[3] = AugmentParams{};
    ps[3].zx = 0.5, ps[3].zy = 1.7;
    ps[4] = AugmentParams{};
    ps[4].tx = 3.25, ps[4].ty = -10.5;
  }
  return ps;
}

TEST(AugmentKeras, SyntheticImagesMatchScipyAndPillow) {
  std::string why;
  if (!reference_tools(&why)) SKIP_OR_FAIL_IN_CI(why);
  for (const auto& hw : {std::pair<int, int>{32, 32}, std::pair<int, int>{37, 53}, std::pair<int, int>{64, 31}}) {
    const int h = hw.first, w = hw.second, n = 12;
    // Noise and smooth gradients (whose interpolated values often land on whole numbers).
    std::vector<float> in = random_image(n, h, w, 21);
    const std::vector<uint8_t> smooth = test::pattern_image(w, h, 3, 4);
    for (int i = n / 2; i < n; ++i)
      std::copy(smooth.begin(), smooth.end(), in.begin() + static_cast<size_t>(i) * h * w * 3);
    expect_matches_keras(in, params_for(n, h, w, 31 + h), h, w,
                         "synthetic " + std::to_string(h) + "x" + std::to_string(w));
  }
}

TEST(AugmentKeras, DogsVsCatsMatchScipyAndPillow) {
  std::string why;
  if (!reference_tools(&why)) SKIP_OR_FAIL_IN_CI(why);
  namespace fs = std::filesystem;
  const std::string root = std::string(VGGTL_SOURCE_DIR) + "/../shared/data/dogs_vs_cats/train";
  if (!fs::is_directory(root)) GTEST_SKIP() << "no shared data set at " << root;
  std::vector<std::string> files;
  for (const char* cls : {"cat", "dog"}) {
    std::vector<std::string> names = test::folder_entries(root + "/" + cls);
    std::sort(names.begin(), names.end());
    for (size_t i = 0; i < names.size() && i < 5; ++i) files.push_back(root + "/" + cls + "/" + names[i]);
  }
  ASSERT_GE(files.size(), 6u);
  for (ResizeFilter filter : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) {
    const int s = 224, n = static_cast<int>(files.size());
    std::vector<float> in(static_cast<size_t>(n) * s * s * 3);
    for (int i = 0; i < n; ++i) {
      RgbImage img;
      std::vector<uint8_t> bytes;
      const DecodeResult d = decode_image_file(files[i], &img, &bytes);
      ASSERT_TRUE(d.ok) << files[i] << ": " << d.reason;
      const ResizePlan plan = make_resize_plan(img.height, img.width, s, s, filter);
      resize_preprocess_cpu(in.data() + static_cast<size_t>(i) * s * s * 3, img.pixels.data(), plan.table.data(),
                            plan.g, PixelTransform::None);
    }
    expect_matches_keras(in, params_for(n, s, s, 77), s, s,
                         std::string("dogs_vs_cats ") + resize_filter_name(filter));
  }
}

}  // namespace
}  // namespace vggtl
