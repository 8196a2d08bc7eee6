// 3x3 'same' convolution: hand-computed cases for the double oracle and oneDNN; the Keras kernel
// layout (kh, kw, in, out) and cross-correlation without flip checked with single impulses;
// oneDNN against the oracle at awkward sizes (max error <= 1e-5 of the output RMS: f32 products
// summed in f32 over 9C <= 144 terms stay near 1e-7 relative); weight changes and several shapes
// on one oneDNN object; Winograd (Auto's choice on AVX-512) against the oracle; the cuDNN choice
// cache file's parsing (any machine); cuDNN against the oracle for each precision, deterministic
// results and the poisoned output never leaking through the fused form (Gpu suite).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_algo_cache.h"
#include "kernels/convert.h"
#include "kernels/cpu_backend.h"
#include "kernels/vec16.h"
#include "support/random_cases.h"
#include "test_util.h"

namespace vggtl {
namespace {

using Case = test::ConvCase;
Case random_case(const Conv2dShape& s, uint64_t seed) { return test::random_conv_case(s, seed); }

std::vector<double> oracle(const Case& c, bool relu) {
  std::vector<double> y(static_cast<size_t>(c.s.n * c.s.h * c.s.w * c.s.k));
  conv2d_3x3_ref_cpu(y.data(), c.x.data(), c.w.data(), c.b.data(), c.s, relu);
  return y;
}

std::vector<float> onednn(Conv2dOnednn& conv, const Case& c) {
  std::vector<float> y(static_cast<size_t>(c.s.n * c.s.h * c.s.w * c.s.k), std::nanf(""));
  conv.forward(y.data(), c.x.data(), c.s.n, c.s.h, c.s.w, c.w.data(), c.b.data());
  return y;
}

// The case's batch through `algo` (ReLU on), checking that every image got the bits it gets run
// alone; returns the batch's output.
std::vector<float> expect_each_image_as_alone(const Case& cs, CpuConvAlgo algo) {
  const Conv2dShape& s = cs.s;
  Conv2dOnednn batch(s.c, s.k, true, algo), alone(s.c, s.k, true, algo);
  const std::vector<float> all = onednn(batch, cs);
  const int64_t in_image = s.h * s.w * s.c, out_image = s.h * s.w * s.k;
  for (int64_t i = 0; i < s.n; ++i) {
    std::vector<float> one(static_cast<size_t>(out_image));
    alone.forward(one.data(), cs.x.data() + i * in_image, 1, s.h, s.w, cs.w.data(), cs.b.data());
    EXPECT_EQ(std::memcmp(one.data(), all.data() + i * out_image, one.size() * sizeof(float)), 0)
        << s.h << "x" << s.w << "x" << s.c << " -> " << s.k << ": image " << i << " of " << s.n
        << " differs from itself alone (" << alone.implementation() << ")";
  }
  return all;
}

TEST(Conv2d, HandComputedAllOnesKernel) {
  // x = 1..9 in a 3x3 image, one channel; all-ones kernel, bias 0.5: each output is 0.5 plus the
  // sum of the in-image neighbourhood (zero padding outside).
  Case c{{1, 3, 3, 1, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, std::vector<float>(9, 1.f), {0.5f}};
  const double want[9] = {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5};
  std::vector<double> y = oracle(c, false);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(y[i], want[i]) << i;
  Conv2dOnednn conv(1, 1, false);
  std::vector<float> f = onednn(conv, c);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(f[i], want[i]) << i;
}

TEST(Conv2d, HandComputedTwoChannelsWithRelu) {
  // 1x1 image, 2 channels (x = [2, -3]); only the centre tap sees the image. Kernel centre
  // (r=1, s=1) maps in->out as [[1, -1], [2, 0.5]] (rows: input channel), bias [1, 0]:
  // out0 = 1 + 2*1 + (-3)*2 = -3 and out1 = 0 + 2*(-1) + (-3)*0.5 = -3.5, both 0 after ReLU.
  Case c{{1, 1, 1, 2, 2}, {2.f, -3.f}, std::vector<float>(9 * 2 * 2, 100.f), {1.f, 0.f}};
  const int centre = (1 * 3 + 1) * 2 * 2;
  c.w[centre + 0] = 1.f;   // in 0 -> out 0
  c.w[centre + 1] = -1.f;  // in 0 -> out 1
  c.w[centre + 2] = 2.f;   // in 1 -> out 0
  c.w[centre + 3] = 0.5f;  // in 1 -> out 1
  std::vector<double> raw = oracle(c, false), relu = oracle(c, true);
  EXPECT_EQ(raw[0], -3.0);
  EXPECT_EQ(raw[1], -3.5);
  EXPECT_EQ(relu[0], 0.0);
  EXPECT_EQ(relu[1], 0.0);
  c.x = {-2.f, 3.f};  // out0 = 1 - 2 + 6 = 5; out1 = 2 + 1.5 = 3.5
  relu = oracle(c, true);
  EXPECT_EQ(relu[0], 5.0);
  EXPECT_EQ(relu[1], 3.5);
  Conv2dOnednn conv(2, 2, true);
  std::vector<float> f = onednn(conv, c);
  EXPECT_EQ(f[0], 5.f);
  EXPECT_EQ(f[1], 3.5f);
}

// Keras stores kernel[kh][kw][in][out] and computes cross-correlation:
// y[i][j][out] = sum x[i + kh - 1][j + kw - 1][in] * kernel[kh][kw][in][out]. One non-zero tap
// and one input impulse must light exactly one output, at the place this formula says (a
// flipped kernel or swapped in/out axes would light another place or channel).
TEST(Conv2d, KerasKernelLayoutNoFlip) {
  const Conv2dShape s{1, 5, 5, 2, 3};
  for (int tap = 0; tap < 9; ++tap) {
    const int kh = tap / 3, kw = tap % 3;
    Case c{s, std::vector<float>(5 * 5 * 2, 0.f), std::vector<float>(9 * 2 * 3, 0.f), std::vector<float>(3, 0.f)};
    c.x[(2 * 5 + 2) * 2 + 1] = 1.f;               // impulse at (2, 2), input channel 1
    c.w[((kh * 3 + kw) * 2 + 1) * 3 + 2] = 3.f;   // tap (kh, kw), in 1 -> out 2
    const int oi = 2 - (kh - 1), oj = 2 - (kw - 1);  // i + kh - 1 == 2
    std::vector<double> ref = oracle(c, false);
    Conv2dOnednn conv(2, 3, false);
    std::vector<float> fast = onednn(conv, c);
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j)
        for (int k = 0; k < 3; ++k) {
          const double want = (i == oi && j == oj && k == 2) ? 3.0 : 0.0;
          const size_t at = static_cast<size_t>((i * 5 + j) * 3 + k);
          ASSERT_EQ(ref[at], want) << "oracle, tap " << kh << "," << kw << " at " << i << "," << j << "," << k;
          ASSERT_EQ(fast[at], want) << "onednn, tap " << kh << "," << kw << " at " << i << "," << j << "," << k;
        }
  }
  // 'same' padding at the border: an impulse in the corner seen by tap (0, 0) lands at (1, 1);
  // tap (2, 2) would need input (-1, -1), so output (0, 0) sees only padding there.
  Case c{s, std::vector<float>(5 * 5 * 2, 0.f), std::vector<float>(9 * 2 * 3, 0.f), std::vector<float>(3, 0.f)};
  c.x[0] = 1.f;
  c.w[((2 * 3 + 2) * 2 + 0) * 3 + 0] = 1.f;
  std::vector<double> ref = oracle(c, false);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(ref[i], 0.0) << i;
}

TEST(Conv2d, OnednnMatchesOracleAtAwkwardSizes) {
  uint64_t seed = 100;
  for (int64_t n : {1, 3})
    for (int64_t hw : {5, 7, 14})
      for (int64_t c : {3, 5, 16})
        for (int64_t k : {4, 8, 33}) {
          const Case cs = random_case({n, hw, hw, c, k}, seed += 3);
          for (bool relu : {false, true}) {
            Conv2dOnednn conv(c, k, relu);
            const std::vector<double> want = oracle(cs, relu);
            const std::vector<float> got = onednn(conv, cs);
            const int64_t count = static_cast<int64_t>(want.size());
            EXPECT_TRUE(test::within_rms(test::compare(got.data(), want.data(), count), count, 1e-5))
                << n << "x" << hw << "x" << hw << "x" << c << " -> " << k << " relu=" << relu;
          }
        }
  // Not square.
  const Case cs = random_case({2, 5, 9, 7, 6}, 7);
  Conv2dOnednn conv(7, 6, false);
  const std::vector<double> want = oracle(cs, false);
  const std::vector<float> got = onednn(conv, cs);
  EXPECT_TRUE(test::within_rms(test::compare(got.data(), want.data(), static_cast<int64_t>(want.size())),
                               static_cast<int64_t>(want.size()), 1e-5));
}

TEST(Conv2d, OnednnFollowsWeightChangesAndShapes) {
  Conv2dOnednn conv(5, 4, true);
  Case a = random_case({1, 5, 5, 5, 4}, 200);
  Case b = random_case({3, 7, 7, 5, 4}, 300);
  auto check = [&](const Case& c, const char* what) {
    const std::vector<double> want = oracle(c, true);
    const std::vector<float> got = onednn(conv, c);
    EXPECT_TRUE(test::within_rms(test::compare(got.data(), want.data(), static_cast<int64_t>(want.size())),
                                 static_cast<int64_t>(want.size()), 1e-5))
        << what;
  };
  check(a, "first shape");
  check(b, "second shape");
  check(a, "first shape again");
  // Same buffer, new values: weights_changed() makes the next forward reorder again.
  const Case fresh = random_case({1, 5, 5, 5, 4}, 400);
  std::copy(fresh.w.begin(), fresh.w.end(), a.w.begin());
  conv.weights_changed();
  check(a, "after weights_changed");
  check(b, "second shape after weights_changed");
  // Another buffer: picked up without being told.
  Case c = a;
  for (float& v : c.w) v = -v;
  check(c, "weights from another pointer");
}

// Winograd (what Auto picks from 14x14 up where oneDNN has it) against the oracle at VGG-like
// channel counts, awkward image sizes, several images per call (in groups through blocked
// copies: one group, and with a small group bound groups of 2 and a tail of 1), with and without
// ReLU. Its transforms add rounding: measured max error 0.5-3.6e-6 of the output RMS on
// VGG16's layer shapes with oneDNN's F(2x2,3x3) on an Intel AVX-512 host, but up to 1.3e-5 at
// 28x28x128 on an AMD Zen 4 host, where oneDNN picks F(4x4,3x3) (larger transforms, more
// rounding); the bound, 5e-5 of the RMS, is 4x that.
TEST(Conv2d, WinogradMatchesOracleAndAutoPicksIt) {
  constexpr double kWinogradRms = 5e-5;
  {
    Conv2dOnednn probe(32, 32, false, CpuConvAlgo::Winograd);
    const Case cs = random_case({1, 8, 8, 32, 32}, 500);
    std::vector<float> y(cs.x.size());
    const std::string err = test::error_of(
        [&] { probe.forward(y.data(), cs.x.data(), 1, 8, 8, cs.w.data(), cs.b.data()); });
    if (err != "(no error)") GTEST_SKIP() << "oneDNN offers no Winograd convolution here: " << err;
  }
  uint64_t seed = 600;
  for (int64_t n : {1, 3})
    for (int64_t hw : {5, 13, 28})
      for (auto [c, k] : {std::pair<int64_t, int64_t>{16, 32}, {64, 48}, {128, 128}})
        for (bool relu : {false, true}) {
          const Case cs = random_case({n, hw, hw, c, k}, seed += 3);
          const std::vector<double> want = oracle(cs, relu);
          const int64_t count = static_cast<int64_t>(want.size());
          for (CpuConvAlgo algo : {CpuConvAlgo::Winograd, CpuConvAlgo::Auto}) {
            Conv2dOnednn conv(c, k, relu, algo);
            const std::vector<float> got = onednn(conv, cs);
            // Auto takes Winograd from 14x14 up.
            const bool winograd = algo == CpuConvAlgo::Winograd || hw >= 14;
            EXPECT_EQ(conv.implementation().find("wino") != std::string::npos, winograd)
                << hw << "x" << hw << ": " << conv.implementation();
            EXPECT_TRUE(test::within_rms(test::compare(got.data(), want.data(), count), count, kWinogradRms))
                << n << "x" << hw << "x" << hw << "x" << c << " -> " << k << " relu=" << relu << " "
                << conv.implementation();
          }
        }
  // Every image alone: a batch gives each image the bits it gets as a batch of one, whether it
  // ran on a thread of its own (whole rounds of the threads) or on all threads (the rest), and
  // whatever the batch size. 7 images: on two threads 6 one per thread and 1 alone.
  for (auto [hw, c, k] : {std::tuple<int64_t, int64_t, int64_t>{14, 64, 64}, {28, 128, 96}, {17, 16, 32}}) {
    const Case cs = random_case({7, hw, hw, c, k}, seed += 3);
    const std::vector<float> all = expect_each_image_as_alone(cs, CpuConvAlgo::Winograd);
    // The batch as a whole is right too (a wrong image offset would pass the comparison above
    // only if every image were wrong the same way).
    const std::vector<double> want = oracle(cs, true);
    const int64_t count = static_cast<int64_t>(want.size());
    EXPECT_TRUE(test::within_rms(test::compare(all.data(), want.data(), count), count, kWinogradRms));
  }
  // Auto keeps direct convolution below 16 input channels (the RGB input layer).
  Conv2dOnednn rgb(3, 32, true);
  const Case image = random_case({1, 13, 13, 3, 32}, 650);
  const std::vector<float> rgb_got = onednn(rgb, image);
  EXPECT_EQ(rgb.implementation().find("wino"), std::string::npos) << rgb.implementation();
  const std::vector<double> rgb_want = oracle(image, true);
  EXPECT_TRUE(test::within_rms(test::compare(rgb_got.data(), rgb_want.data(), static_cast<int64_t>(rgb_want.size())),
                               static_cast<int64_t>(rgb_want.size()), 1e-5));
  // Direct stays available and is what it says.
  Conv2dOnednn direct(64, 48, true, CpuConvAlgo::Direct);
  const Case cs = random_case({2, 13, 13, 64, 48}, 700);
  const std::vector<float> got = onednn(direct, cs);
  EXPECT_EQ(direct.implementation().find("wino"), std::string::npos) << direct.implementation();
  const std::vector<double> want = oracle(cs, true);
  const int64_t count = static_cast<int64_t>(want.size());
  EXPECT_TRUE(test::within_rms(test::compare(got.data(), want.data(), count), count, 1e-5));
}

// Direct convolution runs the batch in one call on all threads; its rounding is per output (the
// same sums in the same order), so an image gets the bits it gets alone here too.
TEST(Conv2d, DirectGivesEachImageItsBitsAlone) {
  uint64_t seed = 900;
  for (auto [hw, c, k] : {std::tuple<int64_t, int64_t, int64_t>{13, 64, 48}, {28, 3, 64}, {7, 512, 512}})
    expect_each_image_as_alone(random_case({5, hw, hw, c, k}, seed += 3), CpuConvAlgo::Direct);
}

// ---- bf16 through oneDNN (AVX512-BF16 or AMX) ----

#define REQUIRE_CPU_BF16()                                                                        \
  do {                                                                                            \
    if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 convolution on this CPU: " << cpu_bf16_unsupported_reason(); \
  } while (0)

std::vector<bf16> rounded_to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

std::vector<float> onednn_bf16(Conv2dOnednn& conv, const Case& c) {
  const std::vector<bf16> x = rounded_to_bf16(c.x);
  std::vector<bf16> y(static_cast<size_t>(c.s.n * c.s.h * c.s.w * c.s.k), float_to_bf16(std::nanf("")));
  conv.forward(y.data(), x.data(), c.s.n, c.s.h, c.s.w, c.w.data(), c.b.data());
  std::vector<float> out(y.size());
  for (size_t i = 0; i < y.size(); ++i) out[i] = bf16_to_float(y[i]);
  return out;
}

// bf16 against the oracle fed the same bf16-rounded x and w: what is left is the output's own
// rounding (2^-9 of each value, allowed 2^-8) and the f32 accumulation order (allowed 1e-5 of the
// largest value). Against the f32 path on the unrounded data, the measure: max abs error
// over max abs value <= 1e-2 (bf16 keeps 8 bits: inputs and weights each 2^-9 relative, the output
// 2^-9 again, partly cancelling over 9C terms).
TEST(Conv2d, OnednnBf16MatchesRoundedOracleAndF32AtAwkwardSizes) {
  REQUIRE_CPU_BF16();
  uint64_t seed = 1300;
  for (auto [n, h, w, c, k] : {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{1, 5, 5, 3, 4}, {3, 7, 9, 3, 64},
                               {2, 14, 14, 16, 33}, {1, 13, 6, 64, 48}, {2, 7, 7, 512, 32}}) {
    const Case cs = random_case({n, h, w, c, k}, seed += 3);
    Case rounded = cs;
    for (float& v : rounded.x) v = bf16_to_float(float_to_bf16(v));
    for (float& v : rounded.w) v = bf16_to_float(float_to_bf16(v));
    for (bool relu : {false, true}) {
      Conv2dOnednn conv16(c, k, relu, CpuConvAlgo::Auto, DType::BF16), conv32(c, k, relu);
      const std::vector<float> got = onednn_bf16(conv16, cs);
      const std::vector<double> want = oracle(rounded, relu);
      const std::vector<float> f32 = onednn(conv32, cs);
      double max_value = 0, worst = 0, max_f32 = 0, err_f32 = 0;
      for (double v : want) max_value = std::max(max_value, std::abs(v));
      size_t worst_at = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_FALSE(std::isnan(got[i])) << "output " << i << " not written";
        const double excess = std::abs(got[i] - want[i]) - (std::ldexp(1.0, -8) * std::abs(want[i]) + 1e-5 * max_value);
        if (excess > worst) worst = excess, worst_at = i;
        max_f32 = std::max(max_f32, std::abs(static_cast<double>(f32[i])));
        err_f32 = std::max(err_f32, std::abs(static_cast<double>(got[i]) - f32[i]));
      }
      const std::string what = std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(w) + "x" +
                               std::to_string(c) + " -> " + std::to_string(k) + " relu=" + std::to_string(relu) + " (" +
                               conv16.implementation() + ")";
      EXPECT_EQ(worst, 0.0) << what << ": output " << worst_at << " is " << got[worst_at] << ", oracle "
                            << want[worst_at];
      EXPECT_LE(err_f32, 1e-2 * max_f32) << what << ": max error against f32 " << err_f32 << " of " << max_f32;
    }
  }
}

TEST(Conv2d, OnednnBf16GivesEachImageItsBitsAloneAndFollowsWeights) {
  REQUIRE_CPU_BF16();
  Case cs = random_case({5, 13, 11, 32, 48}, 1400);
  Conv2dOnednn batch(32, 48, true, CpuConvAlgo::Auto, DType::BF16), alone(32, 48, true, CpuConvAlgo::Auto, DType::BF16);
  const std::vector<float> all = onednn_bf16(batch, cs);
  const int64_t in_image = 13 * 11 * 32, out_image = 13 * 11 * 48;
  for (int64_t i = 0; i < 5; ++i) {
    Case one = cs;
    one.s.n = 1;
    one.x.assign(cs.x.begin() + i * in_image, cs.x.begin() + (i + 1) * in_image);
    const std::vector<float> y = onednn_bf16(alone, one);
    EXPECT_EQ(std::memcmp(y.data(), all.data() + i * out_image, y.size() * sizeof(float)), 0) << "image " << i;
  }
  // New values at the same pointer, announced: the next call uses them.
  for (float& v : cs.w) v = -v;
  batch.weights_changed();
  const std::vector<float> flipped = onednn_bf16(batch, cs);
  Conv2dOnednn fresh(32, 48, true, CpuConvAlgo::Auto, DType::BF16);
  EXPECT_EQ(flipped, onednn_bf16(fresh, cs));
  EXPECT_NE(flipped, all);
}

// ---- The cuDNN choice cache file ----

TEST(ConvAlgoCache, ReadsValidLinesLaterOnesWinAndSkipsTheRest) {
  const std::string path = test::temp_dir("algo_cache") + "/cache.txt";
  {
    std::ofstream f(path);
    f << "H200|sm90|cudnn91900|30x224x224x3->64|bf16|auto 1 1 4096 2 1\n"
      << "H200|sm90|cudnn91900|30x224x224x3->64|bf16|auto 6 2 8192 1 0\n"  // later line wins
      << "garbage\n"
      << "A|x 1 1 1 2\n"                  // truncated
      << "B|x 1 1 1 2 1 extra\n"          // trailing field
      << "C|x 9 1 1 2 1\n"                // algorithm out of range (count 8)
      << "D|x 1 1 999999999 2 1\n"        // workspace over the limit
      << "E|x 1 1 1 0 1\n"                // epilogue not allowed (bit 0 off)
      << "F|x 1 1 1 2 7\n"                // bias flag neither 0 nor 1
      << "G|x 0 0 0 2 1";                 // no final newline: still a line
  }
  const unsigned allowed = (1u << 1) | (1u << 2);
  ConvAlgoCacheFile file(path, 8, size_t{1} << 20, allowed);
  const ConvAlgoRecord* r = file.find("H200|sm90|cudnn91900|30x224x224x3->64|bf16|auto");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->algo, 6);
  EXPECT_EQ(r->math_type, 2);
  EXPECT_EQ(r->workspace, 8192u);
  EXPECT_EQ(r->epilogue, 1);
  EXPECT_FALSE(r->bias_f32);
  for (const char* bad : {"garbage", "A|x", "B|x", "C|x", "D|x", "E|x", "F|x"}) EXPECT_EQ(file.find(bad), nullptr) << bad;
  ASSERT_NE(file.find("G|x"), nullptr);
  EXPECT_EQ(file.find("G|x")->algo, 0);
}

TEST(ConvAlgoCache, AppendedLinesAreReadBackByTheNextProcess) {
  const std::string path = test::temp_dir("algo_cache_append") + "/sub/cache.txt";  // folder made
  ConvAlgoRecord r;
  r.algo = 3;
  r.math_type = 1;
  r.workspace = 1234;
  r.epilogue = 2;
  r.bias_f32 = true;
  {
    ConvAlgoCacheFile file(path, 8, size_t{1} << 20, 6u);
    EXPECT_EQ(file.find("K"), nullptr);
    file.append("K", r);
    ASSERT_NE(file.find("K"), nullptr);  // known at once in this process too
    EXPECT_EQ(file.path(), path);
  }
  ConvAlgoCacheFile again(path, 8, size_t{1} << 20, 6u);
  const ConvAlgoRecord* got = again.find("K");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->algo, 3);
  EXPECT_EQ(got->workspace, 1234u);
  EXPECT_TRUE(got->bias_f32);
}

TEST(ConvAlgoCache, AnUnwritableFileIsDroppedNotFatal) {
  const std::string dir = test::temp_dir("algo_cache_ro");
  const std::string path = dir + "/is_a_folder";
  std::filesystem::create_directories(path);  // a folder where the file should be
  ConvAlgoCacheFile file(path, 8, size_t{1} << 20, 6u);
  ConvAlgoRecord r;
  r.algo = 1;
  r.epilogue = 2;
  file.append("K", r);
  EXPECT_EQ(file.path(), "") << "a file that cannot be written is not used again";
  EXPECT_NE(file.find("K"), nullptr);
}

// ---- cuDNN against the oracle ----

// |got - want| <= rel_value * |want| + rel_rms * rms(want) + rel_pre * |pre|, reporting the worst
// element (pre: a second value whose rounding also reaches the output, or null).
::testing::AssertionResult within_mixed(const float* got, const double* want, int64_t n, double rel_value,
                                        double rel_rms, const double* pre = nullptr, double rel_pre = 0) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += want[i] * want[i];
  const double rms = std::sqrt(ss / static_cast<double>(n));
  double worst = -1;
  int64_t at = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double allowed = rel_value * std::fabs(want[i]) + rel_rms * rms + (pre ? rel_pre * std::fabs(pre[i]) : 0.0);
    // A NaN or an infinity on either side (or in pre) never passes: inf - inf and a NaN
    // allowance give a NaN excess, which `excess > worst` would skip.
    double excess = err - allowed;
    if (!std::isfinite(got[i]) || !std::isfinite(want[i]) || std::isnan(excess)) excess = INFINITY;
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  if (worst <= 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "element " << at << ": got " << got[at] << ", expected " << want[at]
                                       << " (output RMS " << rms << ")";
}

TEST(Conv2dChecker, WithinMixedFailsOnNanAndInfinity) {
  const float good[] = {1.f, -2.f, 3.f};
  const double want[] = {1.0, -2.0, 3.0};
  EXPECT_TRUE(within_mixed(good, want, 3, 1e-6, 0));
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    const float got[] = {1.f, bad, 3.f};
    EXPECT_FALSE(within_mixed(got, want, 3, 1e-6, 0)) << bad;
    const double want_bad[] = {1.0, static_cast<double>(bad), 3.0};
    EXPECT_FALSE(within_mixed(got, want_bad, 3, 1e-6, 0)) << bad << " on both sides";
    EXPECT_FALSE(within_mixed(good, want_bad, 3, 1e-6, 0)) << bad << " expected";
  }
}

#if VGGTL_HAVE_CUDA
CudnnConvChoice check_cudnn(const Case& cs, ConvMath math, ConvEpilogue ep) {
  const Device dev = Device::cuda();
  Context& ctx = Context::get(dev);
  const DType dt = math == ConvMath::BF16 ? DType::BF16 : DType::F32;
  const Conv2dShape& s = cs.s;
  // Under BF16 the oracle gets the same bf16-rounded inputs, so only the f32 accumulation and the
  // final rounding differ.
  Case ref = cs;
  if (dt == DType::BF16) {
    for (float& v : ref.x) v = bf16_to_float(float_to_bf16(v));
    for (float& v : ref.w) v = bf16_to_float(float_to_bf16(v));
  }
  Tensor hx = Tensor::empty({s.n, s.h, s.w, s.c}, DType::F32), hw = Tensor::empty({3, 3, s.c, s.k}, DType::F32);
  Tensor hb = Tensor::empty({s.k}, DType::F32);
  std::memcpy(hx.raw(), cs.x.data(), hx.nbytes());
  std::memcpy(hw.raw(), cs.w.data(), hw.nbytes());
  std::memcpy(hb.raw(), cs.b.data(), hb.nbytes());
  Tensor dxf = to_device(hx, dev), dwf = to_device(hw, dev), db = to_device(hb, dev);
  Tensor dx = Tensor::empty(dxf.shape(), dt, dev), dw = Tensor::empty({s.k, 3, 3, s.c}, dt, dev);
  Tensor db16 = Tensor::empty({s.k}, DType::BF16, dev);
  convert(dx, dxf);
  hwio_to_krsc(dw, dwf);
  convert(db16, db);
  CudnnConvChoice first;
  for (int run = 0; run < 2; ++run) {  // the first run searches, the second uses the choice
    Tensor dy = test::poisoned({s.n, s.h, s.w, s.k}, dt, dev);
    const size_t bytes = conv2d_cudnn_workspace_bytes(s, math, ep, dev, ctx.cudnn());
    const CudnnConvChoice ch = conv2d_forward_cudnn(dy.raw(), dx.raw(), dw.raw(), db.data<float>(), db16.data<bf16>(),
                                                    s, math, ep, ctx.workspace(bytes), bytes, dev, ctx.stream(),
                                                    ctx.cudnn());
    Tensor yf = Tensor::empty(dy.shape(), DType::F32, dev);
    convert(yf, dy);
    Tensor got = test::host_copy(yf);
    const std::vector<double> want = oracle(ref, true);
    Case no_bias = ref;
    std::fill(no_bias.b.begin(), no_bias.b.end(), 0.f);
    const std::vector<double> conv_only = oracle(no_bias, false);
    const int64_t n = static_cast<int64_t>(want.size());
    // fp32: FMA-only GEMM algorithms, as exact as the CPU: 1e-5 of RMS.
    // tf32: inputs cut to 10 mantissa bits. Rounded, the error has std ~4e-4 of RMS and its max
    // over thousands of outputs stays under 3e-3 of RMS; truncated (some kernels do), each
    // product also shrinks by up to 2^-9 of itself: 2^-9 of each value on top.
    // bf16 (the oracle gets the same rounded x and w): the output's own rounding, 2^-8 of each
    // value, plus 2e-3 of RMS for the bias rounded to bf16 (fused form) and the sum order. The
    // own-kernel form rounds twice: cuDNN writes the convolution in bf16 (2^-8 of its value,
    // before the bias) and bias_relu rounds the sum again (measured on an H200: 1.6 steps of
    // 2^-8 where one was allowed).
    const double rel_value = math == ConvMath::BF16 ? std::ldexp(1.0, -8) : math == ConvMath::TF32 ? std::ldexp(1.0, -9) : 0.0;
    const double rel_rms = math == ConvMath::FP32 ? 1e-5 : math == ConvMath::TF32 ? 3e-3 : 2e-3;
    const double rel_pre = math == ConvMath::BF16 && ch.epilogue == ConvEpilogue::OwnKernel ? std::ldexp(1.0, -8) : 0.0;
    EXPECT_TRUE(within_mixed(got.data<float>(), want.data(), n, rel_value, rel_rms, conv_only.data(), rel_pre))
        << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k << " " << conv_math_name(math) << " "
        << conv_epilogue_name(ep) << " run " << run << ": " << ch.str();
    if (run == 0) first = ch;
  }
  return first;
}

// One case, reported on its own: a shape cuDNN cannot run fails this case and the test goes on.
void check_cudnn_case(const Case& cs, ConvMath math, ConvEpilogue ep) {
  const Conv2dShape& s = cs.s;
  try {
    check_cudnn(cs, math, ep);
  } catch (const Error& e) {
    ADD_FAILURE() << s.n << "x" << s.h << "x" << s.w << "x" << s.c << "->" << s.k << " " << conv_math_name(math)
                  << " " << conv_epilogue_name(ep) << ": " << e.what();
  }
}

#endif

TEST(Conv2dGpu, CudnnMatchesOracleForEachPrecisionAndEpilogue) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  conv2d_cudnn_clear_choices();
  // Channel counts that tf32 and bf16 tensor cores take (multiples of 8; the layer pads the RGB
  // input to 8); odd image sizes and batches.
  const Conv2dShape shapes[] = {{1, 5, 5, 8, 8}, {3, 7, 7, 16, 40}, {2, 14, 9, 64, 64}, {1, 28, 28, 8, 64}};
  uint64_t seed = 500;
  for (const Conv2dShape& s : shapes)
    for (ConvMath math : {ConvMath::FP32, ConvMath::TF32, ConvMath::BF16})
      for (ConvEpilogue ep : {ConvEpilogue::Auto, ConvEpilogue::CudnnFused, ConvEpilogue::OwnKernel})
        check_cudnn_case(random_case(s, seed += 3), math, ep);
#endif
}

TEST(Conv2dGpu, OddChannelCountsInFp32) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  // Without tensor cores cuDNN takes any channel count (the layer pads only for tf32 and bf16).
  check_cudnn_case(random_case({3, 7, 5, 3, 5}, 600), ConvMath::FP32, ConvEpilogue::Auto);
  check_cudnn_case(random_case({1, 14, 14, 5, 33}, 601), ConvMath::FP32, ConvEpilogue::OwnKernel);
#endif
}

TEST(Conv2dGpu, ResultsAreBitIdenticalRunToRun) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  // Only deterministic algorithms are chosen: the same input gives the same bits (the feature
  // cache and --resume rely on it). Atomics-based split reductions would differ in the last bits.
  const Device dev = Device::cuda();
  Context& ctx = Context::get(dev);
  const Conv2dShape s{4, 28, 28, 64, 64};
  const Case cs = random_case(s, 800);
  for (ConvMath math : {ConvMath::FP32, ConvMath::TF32, ConvMath::BF16}) {
    const DType dt = math == ConvMath::BF16 ? DType::BF16 : DType::F32;
    Tensor hx = Tensor::empty({s.n, s.h, s.w, s.c}, DType::F32), hw = Tensor::empty({s.k, 3, 3, s.c}, DType::F32);
    Tensor hb = Tensor::empty({s.k}, DType::F32);
    std::memcpy(hx.raw(), cs.x.data(), hx.nbytes());
    std::memcpy(hw.raw(), cs.w.data(), hw.nbytes());
    std::memcpy(hb.raw(), cs.b.data(), hb.nbytes());
    Tensor dxf = to_device(hx, dev), dwf = to_device(hw, dev), db = to_device(hb, dev);
    Tensor dx = Tensor::empty(dxf.shape(), dt, dev), dw = Tensor::empty(dwf.shape(), dt, dev);
    Tensor db16 = Tensor::empty({s.k}, DType::BF16, dev);
    convert(dx, dxf);
    convert(dw, dwf);
    convert(db16, db);
    std::vector<std::vector<unsigned char>> outputs;
    conv2d_cudnn_clear_choices();
    for (int run = 0; run < 3; ++run) {  // the first run searches, the others reuse its choice
      Tensor dy = test::poisoned({s.n, s.h, s.w, s.k}, dt, dev);
      const size_t bytes = conv2d_cudnn_workspace_bytes(s, math, ConvEpilogue::Auto, dev, ctx.cudnn());
      conv2d_forward_cudnn(dy.raw(), dx.raw(), dw.raw(), db.data<float>(), db16.data<bf16>(), s, math,
                           ConvEpilogue::Auto, ctx.workspace(bytes), bytes, dev, ctx.stream(), ctx.cudnn());
      Tensor h = test::host_copy(dy);
      const auto* p = static_cast<const unsigned char*>(h.raw());
      outputs.emplace_back(p, p + h.nbytes());
    }
    EXPECT_EQ(outputs[0], outputs[1]) << conv_math_name(math) << ": two runs of one choice differ";
    EXPECT_EQ(outputs[1], outputs[2]) << conv_math_name(math) << ": two runs of one choice differ";
  }
#endif
}

TEST(Conv2dGpu, SmallerBatchReusesTheChoiceOfALargerOne) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  conv2d_cudnn_clear_choices();
  for (ConvMath math : {ConvMath::FP32, ConvMath::TF32, ConvMath::BF16}) {
    const CudnnConvChoice big = check_cudnn(random_case({5, 12, 10, 16, 24}, 700), math, ConvEpilogue::Auto);
    EXPECT_EQ(big.source, "") << "measured";
    const CudnnConvChoice small = check_cudnn(random_case({2, 12, 10, 16, 24}, 701), math, ConvEpilogue::Auto);
    EXPECT_EQ(small.source, "batch 5") << small.str();
    EXPECT_EQ(small.algo, big.algo);
    EXPECT_EQ(small.epilogue, big.epilogue);
    // A larger batch is measured anew.
    const CudnnConvChoice bigger = check_cudnn(random_case({7, 12, 10, 16, 24}, 702), math, ConvEpilogue::Auto);
    EXPECT_EQ(bigger.source, "") << bigger.str();
  }
#endif
}

}  // namespace
}  // namespace vggtl
