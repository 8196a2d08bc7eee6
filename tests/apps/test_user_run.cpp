// A training run driven as a user drives it, at the moments that go wrong: output redirected
// into files (`> out.log`), real SIGINT and SIGTERM at the stage a user presses Ctrl-C, a
// random-weight VGG16 file in the download's layout, bad files and bad output paths that must be
// refused before the expensive work, and resumes named the way people type them.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/pipeline/progress.h"
#include "engine/device.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "support/image_writer.h"
#include "support/keras_files.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_text;
using test::run_tool;
using test::RunResult;

namespace {

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Files under `dir` whose name says they are temporaries of an atomic write.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) found.push_back(e.path().string());
  return found;
}

// Waits until `file` contains `text` (true) or `child` ended or `seconds` passed (false).
bool wait_for_text(test::Child& child, const std::string& file, const std::string& text, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (read_text(file).find(text) != std::string::npos) return true;
    if (!child.running()) return read_text(file).find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

class UserRun : public test::ToolSuite<UserRun> {
 public:
  static constexpr const char* kFolder = "user_run_suite";
  static void make_inputs() {
    test::StripesSpec spec;
    spec.per_class_train = 8;
    spec.per_class_valid = 4;
    spec.per_class_test = 6;
    test::make_stripes_dataset(data(), spec);
    test::KerasFileOptions o;
    o.he_scaled = true;
    test::write_keras_file(weights(), test::vgg16_spec(test::KerasNaming::Keras1, {64, 128, 256, 512, 512}), o);
  }

 protected:
  static std::string weights() { return root() + "/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"; }
  static std::vector<std::string> train_args(const std::string& run, const std::string& size = "32") {
    return {test::tool_path("vggtl_train"), "--data", data(), "--weights", weights(), "--image-size", size,
            "--epochs", "2", "--batch-size", "4", "--workers", "1", "--device", "cpu", "--out", run};
  }
};


TEST(ProgressRate, StartsAfterTheFirstItem) {
  // The first update only sets the origin: no "1934236.0/s" from an item done in a microsecond.
  EXPECT_EQ(ProgressBar::rate_text(1, -1, 1, 0.000001), "");
  EXPECT_EQ(ProgressBar::rate_text(1, 0.5, 1, 0.5), "");
  EXPECT_EQ(ProgressBar::rate_text(1, 0.5, 1, 3.0), "") << "no item since the first";
  EXPECT_EQ(ProgressBar::rate_text(1, 0.5, 11, 2.5), "5.0/s");
}

TEST_F(UserRun, CtrlCWhileFeaturesAreComputedKeepsThemAndTheLogAndLeavesNoTemporary) {
  // 16 training images at 128 px in batches of 4: several seconds of features on two cores.
  const std::string run = out("ctrl_c_features"), log = out("ctrl_c_features.out"), err = out("ctrl_c_features.err");
  test::Child child(train_args(run, "128"), log, err);
  ASSERT_TRUE(wait_for_text(child, log, "Feature cache:", 120)) << read_text(log) << read_text(err);
  // Redirected to a file, every line printed so far is already there.
  EXPECT_NE(read_text(log).find("Data: 16 train, 8 valid, 12 test images found"), std::string::npos) << read_text(log);
  child.kill_now(SIGINT);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(child.wait(), 130) << read_text(err);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  const std::string e = read_text(err);
  EXPECT_NE(e.find("vggtl_train: interrupted during features"), std::string::npos) << e;
  // The batches done before the signal are kept (at least the one in progress when it came).
  EXPECT_NE(e.find(" are kept in " + run + "/features_train.kept.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("holds no checkpoint yet: run the same command again to continue from the kept features"),
            std::string::npos)
      << e;
  EXPECT_EQ(temporaries(run), std::vector<std::string>{}) << "temporaries left behind";
  EXPECT_FALSE(fs::exists(run + "/last.h5"));
  ASSERT_TRUE(fs::exists(run + "/features_train.kept.h5"));
  // A copy of the stopped folder, continued below with other settings.
  const std::string other = out("ctrl_c_features_other");
  fs::copy(run, other, fs::copy_options::recursive);
  fs::remove(other + "/.lock");

  // --resume on that folder starts the run over, saying so, without running the base again over
  // the images it kept; it ends where an uninterrupted run ends, bit for bit.
  std::vector<std::string> again = train_args(run, "128");
  again.push_back("--resume");
  const RunResult r = run_tool(again);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("holds no checkpoint yet (the run stopped before its first epoch ended): starting it from "
                       "the beginning"),
            std::string::npos)
      << r.err;
  const size_t reused = r.err.find("features train: ");
  ASSERT_NE(reused, std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" of 16 images reused from " + run + "/features_train.kept.h5 (computed before the run was "
                       "interrupted)",
                       reused),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::exists(run + "/metrics.json"));
  EXPECT_FALSE(fs::exists(run + "/features_train.kept.h5")) << "a complete run keeps no features";
  const std::string reference = out("ctrl_c_features_reference");
  ASSERT_EQ(run_tool(train_args(reference, "128")).status, 0);
  EXPECT_EQ(test::read_csv(run + "/history.csv").size(), 3u);
  for (int col : {1, 2, 3, 4})  // loss, accuracy, val_loss, val_accuracy; not the seconds
    for (size_t row = 1; row < 3; ++row)
      EXPECT_EQ(test::read_csv(run + "/history.csv")[row][col], test::read_csv(reference + "/history.csv")[row][col])
          << "row " << row << ", column " << col;
  EXPECT_EQ(read_text(run + "/test_predictions.csv"), read_text(reference + "/test_predictions.csv"));

  // Other settings make other features: the kept ones are named, dropped and computed again.
  std::vector<std::string> bilinear = train_args(other, "128");
  bilinear.insert(bilinear.end(), {"--interpolation", "bilinear"});
  const RunResult b = run_tool(bilinear);
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_NE(b.err.find(other + "/features_train.kept.h5: kept features of another configuration"), std::string::npos)
      << b.err;
  EXPECT_EQ(b.err.find("reused from"), std::string::npos) << b.err;
  EXPECT_FALSE(fs::exists(other + "/features_train.kept.h5"));
}

TEST_F(UserRun, FeaturesKeptFromASpilledHalfPrecisionCacheEndAsAnUninterruptedRun) {
  // 100 KB of cache memory at 128 px in fp16: a batch fits (64 KB), neither split does, so both
  // are spilled to files; the rows kept come back from the spill file, widened and narrowed again.
  auto args = [&](const std::string& run) {
    return test::with(train_args(run, "128"), {"--feature-cache-dtype", "fp16", "--feature-cache-memory", "0.0001"});
  };
  const std::string run = out("spilled_kept"), log = out("spilled_kept.out"), err = out("spilled_kept.err");
  test::Child child(args(run), log, err);
  ASSERT_TRUE(wait_for_text(child, log, "Feature cache:", 120)) << read_text(log) << read_text(err);
  EXPECT_NE(read_text(log).find("fp16; train 0.3 MB in " + run + "/feature_cache_train.bin"), std::string::npos)
      << read_text(log);
  child.kill_now(SIGINT);
  ASSERT_EQ(child.wait(), 130) << read_text(err);
  EXPECT_NE(read_text(err).find(" are kept in " + run + "/features_train.kept.h5"), std::string::npos)
      << read_text(err);
  EXPECT_FALSE(fs::exists(run + "/feature_cache_train.bin")) << "the spill file outlived the run";
  const RunResult r = run_tool(args(run));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(" of 16 images reused from " + run + "/features_train.kept.h5"), std::string::npos) << r.err;
  const std::string reference = out("spilled_reference");
  ASSERT_EQ(run_tool(args(reference)).status, 0);
  EXPECT_EQ(test::history_rows(run), test::history_rows(reference));
  EXPECT_EQ(read_text(run + "/test_predictions.csv"), read_text(reference + "/test_predictions.csv"));
}

TEST_F(UserRun, SigtermDuringTheTestEvaluationKeepsTheTrainedRun) {
  const std::string run = out("term_test"), log = out("term_test.out"), err = out("term_test.err");
  std::vector<std::string> args = train_args(run, "128");
  args[8] = "1";   // --epochs
  args[10] = "1";  // --batch-size: the test split one image at a time
  test::Child child(args, log, err);
  ASSERT_TRUE(wait_for_text(child, log, "Epoch 1/1", 240)) << read_text(log) << read_text(err);
  child.kill_now(SIGTERM);
  const int status = child.wait();
  if (status == 0) GTEST_SKIP() << "the test split was evaluated before SIGTERM arrived (a very fast machine)";
  EXPECT_EQ(status, 143) << read_text(err);
  const std::string e = read_text(err);
  EXPECT_NE(e.find("vggtl_train: interrupted during test"), std::string::npos) << e;
  EXPECT_NE(e.find("training is complete and " + run + "/best.h5 is saved: evaluate it with vggtl_eval --model " +
                   run + "/best.h5"),
            std::string::npos)
      << e;
  EXPECT_TRUE(fs::exists(run + "/best.h5"));
  EXPECT_FALSE(fs::exists(run + "/metrics.json"));
  EXPECT_EQ(temporaries(run), std::vector<std::string>{});

  // --resume finishes it (the test split and the report), then knows it is complete.
  std::vector<std::string> again = args;
  again.push_back("--resume");
  RunResult r = run_tool(again);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Every epoch was trained before the run stopped"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(run + "/metrics.json"));
  r = run_tool(again);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(run + ": the run is complete (1 epoch, best epoch 1); nothing to resume"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("Data:"), std::string::npos) << "a complete run computed features again:\n" << r.out;
}

TEST_F(UserRun, OnBadFileFailStopsBeforeAnyConvolutionAndLeavesNoFolder) {
  const std::string bad = out("bad_fail_data");
  fs::copy(data(), bad, fs::copy_options::recursive);
  std::vector<uint8_t> jpeg = test::read_file(bad + "/valid/horizontal/0.jpg");
  jpeg.resize(jpeg.size() / 3);
  test::write_file(bad + "/valid/horizontal/0.jpg", jpeg);
  std::vector<std::string> args = train_args(out("bad_fail_run"), "224");
  args[2] = bad;
  args.insert(args.end(), {"--on-bad-file", "fail"});
  const RunResult r = run_tool(args);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find(bad + "/valid/horizontal/0.jpg: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(1 bad file; --on-bad-file skip trains without them)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("skipped"), std::string::npos) << "a refused file is not 'skipped':\n" << r.err;
  EXPECT_EQ(r.out.find("Feature cache"), std::string::npos) << "features were computed first:\n" << r.out;
  EXPECT_FALSE(fs::exists(out("bad_fail_run"))) << "an empty run folder was left behind";
}

TEST_F(UserRun, OutputPathsAreCheckedBeforeAnyWork) {
  // vggtl_extract --out naming a folder, vggtl_eval --out naming a file, vggtl_train --out under a
  // file: exit 2, one line, within seconds, nothing written.
  const std::string folder = out("an_existing_folder");
  fs::create_directories(folder);
  RunResult r = run_tool({"vggtl_extract", "--weights", weights(), "--data", data() + "/train", "--out", folder,
                          "--image-size", "224", "--device", "cpu"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err, "vggtl_extract: --out " + folder + " is a folder; give a file name, e.g. " + folder +
                       "/features.h5\n");
  r = run_tool({"vggtl_extract", "--weights", weights(), "--data", data() + "/train", "--out",
                out("no_such_folder") + "/f.h5", "--image-size", "32", "--device", "cpu"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("the folder " + out("no_such_folder") + " does not exist"), std::string::npos) << r.err;

  const std::string file = out("a_file.txt");
  test::write_file(file, {'x'});
  r = run_tool({"vggtl_eval", "--model", out("missing_model.h5"), "--data", data() + "/test", "--out", file});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err, "vggtl_eval: --out " + file + " is a file, not a folder; give a folder (it is created when missing)\n");
  r = run_tool(train_args(file + "/run"));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--out " + file + "/run: " + file + " is not a folder"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_file(file), std::vector<uint8_t>{'x'});
}

TEST_F(UserRun, ResumeComparesFoldersNotSpellings) {
  const std::string run = out("relative");
  std::vector<std::string> first = train_args(run);
  first.insert(first.end(), {"--quiet"});
  ASSERT_EQ(run_tool(first, {"VGGTL_INTERRUPT_AFTER_STEPS=3"}).status, 130);
  // The same data folder named relative to another working folder, through "..".
  const fs::path rel = fs::relative(data(), fs::current_path());
  std::vector<std::string> again = train_args(run);
  again[2] = (rel.parent_path() / ".." / rel.parent_path().filename() / rel.filename()).string();
  again.insert(again.end(), {"--quiet", "--resume"});
  const RunResult r = run_tool(again);
  ASSERT_EQ(r.status, 0) << again[2] << "\n" << r.err;
  // A folder that really differs is still refused, named as the user typed the option.
  again[2] = out("bad_fail_data_other");
  fs::create_directories(again[2]);
  const RunResult other = run_tool(again);
  EXPECT_EQ(other.status, 2) << other.err;
  EXPECT_NE(other.err.find("--data"), std::string::npos) << other.err;
}

TEST_F(UserRun, NoGpuIsSaidOnceAfterTheArgumentsAreChecked) {
  if (cuda_available()) GTEST_SKIP() << "this machine has a usable GPU";
  const CudaRuntimeInfo& info = cuda_runtime_info();
  if (info.built && !info.no_gpu) GTEST_SKIP() << "a GPU is present but unusable: " << info.unusable_reason;
  const std::string line = info.built ? "no GPU found; using the CPU" : "this build has no CUDA backend; using the CPU";
  RunResult r = run_tool({"vggtl_extract", "--weights", weights(), "--data", data() + "/valid", "--out",
                          out("no_gpu.h5"), "--image-size", "32"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count_of(r.err, line), 1u) << r.err;
  EXPECT_EQ(r.err.find("CUDA driver version"), std::string::npos) << r.err;
  // A usage error comes alone: no word about devices before it.
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--batch-size", "0"}, std::vector<std::string>{}}) {
    std::vector<std::string> eval = {"vggtl_eval", "--model", out("missing.h5"), "--data", data() + "/test"};
    eval.insert(eval.end(), extra.begin(), extra.end());
    r = run_tool(eval);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(count_of(r.err, "\n"), 1u) << r.err;
    EXPECT_EQ(r.err.find("GPU"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("CUDA"), std::string::npos) << r.err;
  }
}

// cuBLAS (about 200 MB mapped and 0.1 s of system time when a process starts linked to it) is
// opened only by what uses it: a CPU run never loads it (the loader's own account, LD_DEBUG), its
// metrics.json says so, and --version of a CUDA build opens it to name its version.
TEST_F(UserRun, ACpuRunNeverLoadsCublas) {
  RunResult r = run_tool(train_args(out("no_cublas")), {"LD_DEBUG=files"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("libdnnl"), std::string::npos) << "LD_DEBUG had no effect:\n" << r.err.substr(0, 2000);
  const size_t cublas = r.err.find("libcublas");
  EXPECT_EQ(cublas, std::string::npos) << r.err.substr(cublas > 300 ? cublas - 300 : 0, 600);
  if (!cuda_runtime_info().built) return;
  std::ifstream metrics(out("no_cublas") + "/metrics.json");
  const std::string versions = nlohmann::json::parse(metrics)["versions"];
  EXPECT_NE(versions.find("cuBLAS not loaded"), std::string::npos) << versions;
  RunResult v = run_tool({"vggtl_train", "--version"});
  ASSERT_EQ(v.status, 0) << v.err;
  const size_t at = v.out.find("cuBLAS ");
  ASSERT_NE(at, std::string::npos) << v.out;
  EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(v.out[at + 7]))) << v.out;
}

TEST_F(UserRun, CountsSayWhatWasUsedAndAQuietRunWithoutTestSplitEndsWithOneLine) {
  const std::string d = out("no_test_data");
  fs::create_directories(d);
  fs::copy(data() + "/train", d + "/train", fs::copy_options::recursive);
  fs::copy(data() + "/valid", d + "/valid", fs::copy_options::recursive);
  test::write_file(d + "/train/vertical/broken.jpg", test::random_bytes(200, 11));
  std::vector<std::string> args = train_args(out("no_test_run"));
  args[2] = d;
  RunResult r = run_tool(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Data: 17 train, 8 valid images found"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Using 16 train and 8 valid images: 1 could not be read and are skipped"), std::string::npos)
      << r.out;
  args.back() = out("no_test_quiet");
  args.push_back("--quiet");
  r = run_tool(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\n"), 1u) << r.out;
  EXPECT_EQ(r.out.rfind("No test split found", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("run folder " + out("no_test_quiet")), std::string::npos) << r.out;
}

}  // namespace vggtl
