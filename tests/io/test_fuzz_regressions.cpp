// Every input the fuzzers keep (fuzz/regressions/<harness>/, fuzz/corpus/<harness>/ and the
// libhdf5 crashes of fuzz/known_crashes/) replayed in the normal CPU suite with the harnesses'
// pass rules: an image decodes to exactly width*height*3 bytes or fails with a reason; an HDF5
// file is read in a child first (io/hdf5/hdf5_precheck.h), then in-process when the child managed,
// and only an InputError naming the file may come out.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/hdf5_precheck.h"
#include "io/image/image_decode.h"
#include "io/hdf5/keras_weights.h"
#include "test_util.h"

namespace vggtl {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> inputs(const std::vector<std::string>& dirs) {
  std::vector<std::string> files;
  for (const std::string& d : dirs) {
    const std::string dir = std::string(VGGTL_SOURCE_DIR) + "/" + d;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() != ".md") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzRegressions, ImagesDecodeOrFailWithAReason) {
  const auto files = inputs({"fuzz/regressions/image_decode", "fuzz/corpus/image_decode"});
  ASSERT_GE(files.size(), 20u) << "the image seeds are missing";
  for (const std::string& f : files) {
    RgbImage img;
    std::vector<uint8_t> bytes;
    const DecodeResult r = decode_image_file(f, &img, &bytes);
    if (r.ok) {
      EXPECT_GT(img.width, 0) << f;
      EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3) << f;
    } else {
      EXPECT_FALSE(r.reason.empty()) << f;
    }
  }
}

void expect_only_input_errors(const std::string& f, Hdf5Role role) {
  try {
    precheck_hdf5_file(f, role, 5);  // stops the known hang early
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    return;
  }
  try {
    if (role == Hdf5Role::Weights) {
      // As fuzz_keras_weights: match_weights on what the file holds.
      const WeightsFile w = read_keras_weights(f, true);
      std::vector<ExpectedLayer> expected;
      for (const LayerWeights& l : w.layers) {
        ExpectedLayer e{l.layer, {}, {}};
        for (const WeightEntry& entry : l.weights) e.shapes.push_back(entry.shape);
        expected.push_back(std::move(e));
      }
      match_weights(w, expected);
    } else {
      read_checkpoint(f);
    }
  } catch (const Error& e) {
    // An internal check reached from a file is a finding, as in the harnesses.
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << f << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(FuzzRegressions, Hdf5FilesReadOrFailWithAnInputError) {
  const auto weights = inputs({"fuzz/regressions/keras_weights", "fuzz/corpus/keras_weights", "fuzz/known_crashes"});
  const auto checkpoints = inputs({"fuzz/regressions/checkpoint", "fuzz/corpus/checkpoint", "fuzz/known_crashes"});
  ASSERT_GE(weights.size(), 5u);
  ASSERT_GE(checkpoints.size(), 4u);
  for (const std::string& f : weights) expect_only_input_errors(f, Hdf5Role::Weights);
  for (const std::string& f : checkpoints) expect_only_input_errors(f, Hdf5Role::Checkpoint);
}

TEST(FuzzRegressions, OnnxFilesReadOrFailWithAnInputError) {
  const auto files = inputs({"fuzz/regressions/onnx_weights", "fuzz/corpus/onnx_weights"});
  ASSERT_GE(files.size(), 2u);
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    try {
      read_keras_weights(f, true);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace vggtl
