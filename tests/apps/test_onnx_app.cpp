// ONNX through the tools as a user meets it: an .onnx model as --weights of vggtl_extract and
// vggtl_train, vggtl_weights turning it into the notop layout (same features to the bit, never
// overwriting), a broken .onnx refused with exit 2; and every run's best.onnx run by onnxruntime
// (scripts/check_onnx_predictions.py in the venv of scripts/onnx_venv.sh) giving the
// probabilities of test_predictions.csv within 1e-5, for a fine-tuned run with the caffe
// preprocessing inside and for a run without preprocessing resized bilinearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/hdf5/features_file.h"
#include "support/app_runner.h"
#include "support/onnx_files.h"
#include "test_util.h"

namespace vggtl::test {
namespace {

namespace fs = std::filesystem;

std::string onnx_app_script(const std::string& name) { return std::string(VGGTL_SOURCE_DIR) + "/scripts/" + name; }

TEST(OnnxApp, OnnxModelAsWeightsOfEveryTool) {
  const std::string dir = temp_dir("onnx_app_weights");
  StripesSpec spec;
  spec.per_class_train = 4;
  spec.per_class_valid = 3;
  spec.per_class_test = 0;
  make_stripes_dataset(dir + "/data", spec);
  fs::remove_all(dir + "/data/test");
  const std::string model = dir + "/vgg16.onnx";
  write_onnx(make_vgg16_onnx({}).model, model);

  const std::vector<std::string> extract = {"vggtl_extract", "--data", dir + "/data/valid", "--image-size", "32",
                                            "--device", "cpu", "--precision", "fp32"};
  auto with = [](std::vector<std::string> v, const std::vector<std::string>& more) {
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  RunResult r = run_tool(with(extract, {"--weights", model, "--out", dir + "/from_onnx.h5"}));
  ASSERT_EQ(r.status, 0) << r.err << r.out;

  const std::string notop = dir + "/notop.h5";
  r = run_tool({"vggtl_weights", "--from", model, "--out", notop});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Wrote " + notop + ": 13 conv layers of " + model), std::string::npos) << r.out;
  r = run_tool({"vggtl_weights", "--from", model, "--out", notop});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--out " + notop + " exists; vggtl_weights never overwrites a file"), std::string::npos)
      << r.err;

  r = run_tool(with(extract, {"--weights", notop, "--out", dir + "/from_h5.h5"}));
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  FeaturesReader a(dir + "/from_onnx.h5"), b(dir + "/from_h5.h5");
  ASSERT_EQ(a.rows(), 6);
  ASSERT_EQ(b.rows(), 6);
  const Tensor fa = a.read_all(), fb = b.read_all();
  ASSERT_EQ(fa.shape(), fb.shape());
  EXPECT_EQ(std::memcmp(fa.raw(), fb.raw(), fa.nbytes()), 0) << "the converted file gives other features";
  const float* f = static_cast<const float*>(fa.raw());
  int64_t nonzero = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) nonzero += std::isfinite(f[i]) && f[i] != 0.f;
  EXPECT_GT(nonzero, fa.numel() / 10) << "features of the random ONNX base are mostly zero or not finite";

  r = run_tool({"vggtl_train", "--data", dir + "/data", "--weights", model, "--image-size", "32", "--epochs", "1",
                "--batch-size", "4", "--hidden", "8", "--device", "cpu", "--quiet", "--out", dir + "/run"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_TRUE(fs::exists(dir + "/run/best.onnx"));

  const std::string bad = dir + "/bad.onnx";
  std::ofstream(bad) << "this is no ONNX model";
  r = run_tool(with(extract, {"--weights", bad, "--out", dir + "/bad.h5"}));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(bad + ": not an ONNX model"), std::string::npos) << r.err;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

TEST(OnnxApp, BestOnnxGivesTheRunsTestPredictionsInOnnxruntime) {
  std::string venv_python;
  if (run_command(onnx_app_script("onnx_venv.sh") + " 2>&1", &venv_python) != 0)
    SKIP_OR_FAIL_IN_CI("no Python with onnxruntime (scripts/onnx_venv.sh): " + venv_python);
  while (!venv_python.empty() && (venv_python.back() == '\n' || venv_python.back() == ' ')) venv_python.pop_back();
  venv_python = venv_python.substr(venv_python.rfind('\n') + 1);

  const std::string dir = temp_dir("onnx_app_best");
  StripesSpec spec;
  spec.per_class_train = 8;
  spec.per_class_valid = 4;
  spec.per_class_test = 8;
  make_stripes_dataset(dir + "/data", spec);
  // Fine-tuned, so that the file's last conv is the trained one, not the base it started from.
  const RunResult r = run_tool({"vggtl_train", "--data", dir + "/data", "--weights", "none", "--image-size", "64",
                                "--epochs", "3", "--fine-tune-epochs", "1", "--trainable-from", "block5_conv3",
                                "--fine-tune-lr", "1e-3", "--lr", "3e-3", "--batch-size", "8", "--hidden", "16",
                                "--device", "cpu", "--quiet", "--out", dir + "/run"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_TRUE(fs::exists(dir + "/run/best.onnx"));
  std::string log;
  const int status = run_command(venv_python + " " + onnx_app_script("check_onnx_predictions.py") + " " + dir + "/run " +
                                     dir + "/data/test --tolerance 1e-5 2>&1",
                                 &log);
  EXPECT_EQ(status, 0) << log;
  EXPECT_NE(log.find("16 images"), std::string::npos) << log;

  // No preprocessing in the graph, Pillow's bilinear filter named in the metadata. The features
  // of onnxruntime and vggtl differ by float32 rounding alone (within 2e-6 of the largest,
  // measured), which a head trained hard on random-base features amplifies: 3 epochs at 3e-3
  // gave probabilities up to 1.2e-5 apart, so this run trains one epoch at 1e-3.
  const RunResult plain = run_tool({"vggtl_train", "--data", dir + "/data", "--weights", "none", "--image-size", "32",
                                    "--epochs", "1", "--lr", "1e-3", "--batch-size", "8", "--hidden", "16",
                                    "--preprocessing", "none", "--interpolation", "bilinear", "--device", "cpu",
                                    "--quiet", "--out", dir + "/plain"});
  ASSERT_EQ(plain.status, 0) << plain.err << plain.out;
  EXPECT_EQ(run_command(venv_python + " " + onnx_app_script("check_onnx_predictions.py") + " " + dir + "/plain " +
                            dir + "/data/test --tolerance 1e-5 2>&1",
                        &log),
            0)
      << log;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace vggtl::test
