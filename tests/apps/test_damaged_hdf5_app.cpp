// The tools given a weights file or checkpoint that crashes or hangs libhdf5 (fuzz/known_crashes/)
// end with one line naming the file and exit status 2, within the time limit, instead of dying
// of the crash or hanging (apps/pipeline/app_main.h: precheck_hdf5_inputs).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "support/app_runner.h"
#include "test_util.h"

namespace vggtl {
namespace {

const std::string kCrashes = std::string(VGGTL_SOURCE_DIR) + "/fuzz/known_crashes/";
// The hang is stopped at this limit; a sound run never comes near it.
const std::vector<std::string> kEnv = {"VGGTL_HDF5_CHECK_SECONDS=4"};

void expect_one_damaged_line(const std::vector<std::string>& argv, const std::string& file,
                             const std::string& role) {
  const auto t0 = std::chrono::steady_clock::now();
  test::RunResult r = test::run_tool(argv, kEnv);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 2) << argv[0] << " " << file << "\n" << r.err;
  EXPECT_NE(r.err.find(role + " " + kCrashes + file + " is damaged: the HDF5 library "), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, not:\n" << r.err;
  EXPECT_LT(s, 30.0) << argv[0] << " " << file;
}

class DamagedHdf5App : public ::testing::TestWithParam<std::string> {};

TEST_P(DamagedHdf5App, TrainWithTheFileAsWeights) {
  const std::string out = test::temp_dir("damaged_hdf5_train_" + GetParam().substr(0, 15));
  expect_one_damaged_line({"vggtl_train", "--data", out + "/data", "--weights", kCrashes + GetParam(), "--out",
                           out + "/run", "--device", "cpu"},
                          GetParam(), "weights file");
}

TEST_P(DamagedHdf5App, TrainWithTheFileAsInit) {
  const std::string out = test::temp_dir("damaged_hdf5_init_" + GetParam().substr(0, 15));
  expect_one_damaged_line({"vggtl_train", "--data", out + "/data", "--weights", "none", "--init",
                           kCrashes + GetParam(), "--out", out + "/run", "--device", "cpu"},
                          GetParam(), "checkpoint");
}

TEST_P(DamagedHdf5App, EvalWithTheFileAsModel) {
  const std::string out = test::temp_dir("damaged_hdf5_eval_" + GetParam().substr(0, 15));
  expect_one_damaged_line({"vggtl_eval", "--model", kCrashes + GetParam(), "--data", out, "--device", "cpu"},
                          GetParam(), "checkpoint");
}

TEST_P(DamagedHdf5App, ExtractWithTheFileAsWeights) {
  const std::string out = test::temp_dir("damaged_hdf5_extract_" + GetParam().substr(0, 15));
  expect_one_damaged_line({"vggtl_extract", "--weights", kCrashes + GetParam(), "--data", out, "--out",
                           out + "/f.h5", "--device", "cpu"},
                          GetParam(), "weights file");
}

INSTANTIATE_TEST_SUITE_P(KnownCrashes, DamagedHdf5App,
                         ::testing::Values("hdf5_vlen_global_heap_segv.h5", "hdf5_global_heap_hang.h5"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.find("hang") != std::string::npos ? std::string("Hang")
                                                                             : std::string("Segv");
                         });

}  // namespace
}  // namespace vggtl
