// vggtl_train end to end on the CPU with generated images at 32x32 and a random base: every
// output written and consistent with the others, eval and predict agreeing with the run, exact
// resume after an interruption and after a kill, the feature cache on and off agreeing, bad
// files skipped and listed, and every error path exiting as README.md ("The tools") says.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>
#include <thread>

#include <unistd.h>

#include "apps/pipeline/checkpoint_writer.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/features_file.h"
#include "io/hdf5/keras_weights.h"
#include "kernels/cpu_backend.h"
#include "support/keras_files.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_csv;
using test::run_tool;
using test::RunResult;

class TrainApp : public test::ToolSuite<TrainApp> {
 public:
  static constexpr const char* kFolder = "train_app_suite";

 protected:
  // A short run: 24 training images in batches of 8 = 3 steps per epoch.
  static std::vector<std::string> train_args(const std::string& run, int epochs = 4) {
    return {"vggtl_train", "--data", data(), "--weights", "none", "--image-size", "32", "--epochs",
            std::to_string(epochs), "--batch-size", "8", "--seed", "7", "--lr", "0.003", "--out", run,
            "--workers", "2", "--device", "cpu"};
  }
  static std::vector<std::vector<std::string>> history(const std::string& run) { return test::history_rows(run); }
  // The reference run, trained once for the suite.
  static const std::string& reference() {
    static const std::string run = [] {
      const std::string r = out("reference");
      RunResult res = run_tool(train_args(r));
      EXPECT_EQ(res.status, 0) << res.err;
      *reference_stdout_ = res.out;
      return r;
    }();
    return run;
  }
  static std::string* reference_stdout_;
};

std::string* TrainApp::reference_stdout_ = new std::string;

// A large write keeps the writer busy while five writes of another file queue: four of them are
// superseded by the next, the file ends with the last one, and the large file is written too.
TEST(CheckpointWriter, AQueuedWriteIsReplacedByANewerOneOfTheSameFile) {
  const std::string dir = test::temp_dir("checkpoint_writer");
  auto model_with = [](int64_t floats, float value) {
    CheckpointModel m;
    m.model_config = "{}";
    Tensor w = Tensor::empty({floats}, DType::F32);
    std::fill(w.data<float>(), w.data<float>() + floats, value);
    m.layers.push_back(CheckpointLayer{"dense", "Dense", {NamedTensor{"dense/kernel:0", w}}});
    return m;
  };
  CheckpointWriter writer;
  CheckpointMeta big_meta;
  big_meta.epoch = 99;
  writer.submit(dir + "/big.h5", model_with(int64_t{16} << 20, 1.f), big_meta);  // 64 MB
  for (int epoch = 1; epoch <= 5; ++epoch) {
    CheckpointMeta meta;
    meta.epoch = epoch;
    writer.submit(dir + "/last.h5", model_with(16, static_cast<float>(epoch)), meta);
  }
  writer.wait();
  EXPECT_EQ(writer.superseded(), 4) << "the 64 MB write should outlast five submissions";
  const Checkpoint last = read_checkpoint(dir + "/last.h5");
  ASSERT_TRUE(last.meta.has_value());
  EXPECT_EQ(last.meta->epoch, 5);
  EXPECT_EQ(last.model.layers.at(0).weights.at(0).value.data<float>()[15], 5.f);
  const Checkpoint big = read_checkpoint(dir + "/big.h5");
  ASSERT_TRUE(big.meta.has_value());
  EXPECT_EQ(big.meta->epoch, 99);
}

TEST_F(TrainApp, WritesEveryOutputAndTheyAgree) {
  const std::string run = reference();
  for (const char* f : {"best.h5", "last.h5", "history.csv", "metrics.json", "test_predictions.csv",
                        "confusion_matrix.csv", "per_class.csv", "bad_files.csv", "report.html"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  for (const auto& e : fs::directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "temporary left: " << e.path();

  const auto hist = read_csv(run + "/history.csv");
  ASSERT_EQ(hist.size(), 5u);  // header + 4 epochs
  EXPECT_EQ(hist[0], (std::vector<std::string>{"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}));
  EXPECT_EQ(hist[4][0], "4");

  const nlohmann::json m = nlohmann::json::parse(test::read_text(run + "/metrics.json"));
  const auto preds = read_csv(run + "/test_predictions.csv");
  ASSERT_EQ(preds.size(), 13u);  // header + 12 test images
  EXPECT_EQ(preds[0], (std::vector<std::string>{"path", "true", "predicted", "p_horizontal", "p_vertical"}));
  int64_t correct = 0;
  for (size_t i = 1; i < preds.size(); ++i) {
    correct += preds[i][1] == preds[i][2];
    const double p0 = std::stod(preds[i][3]), p1 = std::stod(preds[i][4]);
    EXPECT_NEAR(p0 + p1, 1.0, 1e-5);
    EXPECT_EQ(preds[i][2], p0 >= p1 ? "horizontal" : "vertical");
  }
  EXPECT_EQ(m["test"]["total"].get<int64_t>(), 12);
  EXPECT_EQ(m["test"]["correct"].get<int64_t>(), correct);
  EXPECT_DOUBLE_EQ(m["test"]["accuracy"].get<double>(), static_cast<double>(correct) / 12.0);
  char line[64];
  std::snprintf(line, sizeof line, "Test accuracy: %.4f (%lld/12)", static_cast<double>(correct) / 12.0,
                static_cast<long long>(correct));
  EXPECT_NE(reference_stdout_->find(line), std::string::npos) << *reference_stdout_;

  const auto confusion = read_csv(run + "/confusion_matrix.csv");
  ASSERT_EQ(confusion.size(), 3u);
  EXPECT_EQ(std::stoll(confusion[1][1]) + std::stoll(confusion[2][2]), correct);
  EXPECT_EQ(std::stoll(confusion[1][1]) + std::stoll(confusion[1][2]) + std::stoll(confusion[2][1]) +
                std::stoll(confusion[2][2]),
            12);
  // The best epoch is the one with the lowest val_loss.
  int best = 0;
  double best_loss = INFINITY;
  for (size_t i = 1; i < hist.size(); ++i)
    if (std::stod(hist[i][3]) < best_loss) best_loss = std::stod(hist[i][3]), best = static_cast<int>(i);
  EXPECT_EQ(m["best_epoch"].get<int>(), best);
  EXPECT_EQ(read_csv(run + "/bad_files.csv").size(), 1u);  // header only
  const std::string html = test::read_text(run + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Misclassified files (" + std::to_string(12 - correct) + ")"), std::string::npos);
}

TEST_F(TrainApp, HeadLearnsTheStripes) {
  // Orientation is what a random conv base keeps best; 4 epochs reach well above chance.
  const std::string run = out("learn");
  std::vector<std::string> args = train_args(run, 12);
  RunResult r = run_tool(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto hist = read_csv(run + "/history.csv");
  EXPECT_GE(std::stod(hist.back()[2]), 0.9) << "training accuracy of the last epoch";
}

TEST_F(TrainApp, EvalAndPredictAgreeWithTheRun) {
  const std::string run = reference();
  const nlohmann::json m = nlohmann::json::parse(test::read_text(run + "/metrics.json"));
  const std::string eval_out = out("eval");
  RunResult e = run_tool({"vggtl_eval", "--model", run + "/best.h5", "--data", data() + "/test", "--out", eval_out,
                          "--device", "cpu"});
  ASSERT_EQ(e.status, 0) << e.err;
  const nlohmann::json em = nlohmann::json::parse(test::read_text(eval_out + "/metrics.json"));
  EXPECT_EQ(em["correct"], m["test"]["correct"]);
  EXPECT_NEAR(em["loss"].get<double>(), m["test"]["loss"].get<double>(), 1e-6);
  EXPECT_NE(e.out.find("Confusion matrix"), std::string::npos);
  EXPECT_EQ(test::read_text(eval_out + "/confusion_matrix.csv"), test::read_text(run + "/confusion_matrix.csv"));

  RunResult p = run_tool({"vggtl_predict", "--model", run + "/best.h5", "--device", "cpu", data() + "/test"});
  ASSERT_EQ(p.status, 0) << p.err;
  const auto train_preds = read_csv(run + "/test_predictions.csv");
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(p.out);
  std::string l;
  while (std::getline(lines, l)) rows.push_back({l});
  ASSERT_EQ(rows.size(), train_preds.size());
  EXPECT_EQ(rows[0][0], "path,class,probability,error");
  for (size_t i = 1; i < rows.size(); ++i) {
    // Same images in the same order: the path ends with the run's relative path.
    const std::string& line = rows[i][0];
    EXPECT_NE(line.find(train_preds[i][0] + ","), std::string::npos) << line;
    EXPECT_NE(line.find("," + train_preds[i][2] + ","), std::string::npos) << line;
  }
  RunResult top2 = run_tool({"vggtl_predict", "--model", run + "/best.h5", "--device", "cpu", "--top-k", "2",
                             data() + "/test/vertical/1.png"});
  ASSERT_EQ(top2.status, 0) << top2.err;
  EXPECT_NE(top2.out.find("path,class_1,probability_1,class_2,probability_2"), std::string::npos) << top2.out;
}

TEST_F(TrainApp, EvalReadsAKerasFullModelFileOfTheTutorialArchitecture) {
  // The run's best.h5 as Keras itself would save the tutorial's model: the Keras part only (no
  // vggtl/ group, so no class names or preprocessing) and tf.keras's default head names, which
  // are paired with ours by position.
  const std::string run = reference();
  Checkpoint ckpt = read_checkpoint(run + "/best.h5");
  for (CheckpointLayer& l : ckpt.model.layers) {
    const std::string renamed = l.name == "FC_2" ? "dense" : l.name == "softmax" ? "dense_1"
                              : l.name == "batch_normalization_1" ? "batch_normalization" : l.name;
    for (NamedTensor& w : l.weights) w.name = renamed + w.name.substr(l.name.size());
    l.name = renamed;
  }
  ckpt.model.model_config.clear();
  const std::string keras_file = out("keras_model.h5");
  write_keras_model(keras_file, ckpt.model);
  const std::string eval_out = out("eval_keras");
  RunResult e = run_tool({"vggtl_eval", "--model", keras_file, "--data", data() + "/test", "--out", eval_out,
                          "--device", "cpu"});
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_NE(e.out.find("Keras full-model file"), std::string::npos) << e.out;
  const nlohmann::json m = nlohmann::json::parse(test::read_text(run + "/metrics.json"));
  const nlohmann::json em = nlohmann::json::parse(test::read_text(eval_out + "/metrics.json"));
  EXPECT_EQ(em["correct"], m["test"]["correct"]);
  EXPECT_NEAR(em["loss"].get<double>(), m["test"]["loss"].get<double>(), 1e-6);
}

TEST_F(TrainApp, ResumeAfterAnInterruptGivesTheSameHistory) {
  const std::string run = out("interrupted");
  // Stop after 5 optimizer steps: in the middle of epoch 2.
  RunResult first = run_tool(train_args(run), {"VGGTL_INTERRUPT_AFTER_STEPS=5"});
  EXPECT_EQ(first.status, 130) << first.err;
  EXPECT_NE(first.err.find("--resume"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("the features are kept in " + run + " for it"), std::string::npos) << first.err;
  EXPECT_EQ(history(run).size(), 1u);
  std::vector<std::string> args = train_args(run);
  args.push_back("--resume");
  RunResult second = run_tool(args);
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("Resuming at epoch 2, batch 2"), std::string::npos) << second.out;
  // The resumed run trains on the features the first one computed (and the same values: below).
  EXPECT_NE(second.err.find("features train: 24 of 24 images reused from " + run + "/features_train.kept.h5"),
            std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("features valid: 12 of 12 images reused from"), std::string::npos) << second.err;
  EXPECT_FALSE(fs::exists(run + "/features_train.kept.h5")) << "a complete run keeps no features";
  EXPECT_EQ(history(run), history(reference()));
  EXPECT_EQ(test::read_text(run + "/test_predictions.csv"), test::read_text(reference() + "/test_predictions.csv"));
}

TEST_F(TrainApp, ResumeAfterAKillGivesTheSameHistory) {
  // 6 epochs of 3 steps, killed (SIGKILL, no handler runs) after step 11, in epoch 4: three
  // end-of-epoch checkpoints were queued, the last of them possibly still being written (the
  // kill waits for the first last.h5 to be on disk: a loaded machine's writer may lag).
  const int epochs = 6;
  const std::string run = out("killed");
  RunResult killed = run_tool(train_args(run, epochs), {"VGGTL_KILL_AFTER_STEPS=11"});
  ASSERT_EQ(killed.status, 128 + SIGKILL) << killed.err;
  ASSERT_TRUE(fs::exists(run + "/last.h5"));
  std::vector<std::string> args = train_args(run, epochs);
  args.push_back("--resume");
  RunResult resumed = run_tool(args);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const size_t at = resumed.out.find("Resuming at epoch ");
  ASSERT_NE(at, std::string::npos) << resumed.out;
  const int resumed_at = std::stoi(resumed.out.substr(at + 18));
  EXPECT_GE(resumed_at, 2) << "the kill lost more than the epoch in progress and the one being written";
  EXPECT_LE(resumed_at, 4);
  RunResult straight = run_tool(train_args(out("straight"), epochs));
  ASSERT_EQ(straight.status, 0) << straight.err;
  EXPECT_EQ(history(run), history(out("straight")));
}

TEST_F(TrainApp, InitTakesTheHeadAndResumesExactly) {
  // Start from the reference run's best.h5 with another seed, interrupt, resume: the same
  // history as an uninterrupted run from that start (the base always comes from --weights).
  auto args = [&](const std::string& run) {
    std::vector<std::string> a = train_args(run, 3);
    a[12] = "2";  // --seed
    a.insert(a.end(), {"--init", reference() + "/best.h5"});
    return a;
  };
  RunResult straight = run_tool(args(out("init_straight")));
  ASSERT_EQ(straight.status, 0) << straight.err;
  RunResult first = run_tool(args(out("init_interrupted")), {"VGGTL_INTERRUPT_AFTER_STEPS=4"});
  ASSERT_EQ(first.status, 130) << first.err;
  std::vector<std::string> again = args(out("init_interrupted"));
  again.push_back("--resume");
  RunResult second = run_tool(again);
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_EQ(history(out("init_interrupted")), history(out("init_straight")));
}

TEST_F(TrainApp, FeatureCacheOnAndOffGiveTheSameHistory) {
  const std::string run = out("nocache");
  std::vector<std::string> args = train_args(run);
  args.insert(args.end(), {"--feature-cache", "off"});
  RunResult r = run_tool(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto a = history(run), b = history(reference());
  ASSERT_EQ(a.size(), b.size());
  // The base runs on other batch compositions, so convolutions may round differently: 1e-4.
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 1; j < a[i].size(); ++j)
      EXPECT_NEAR(std::stod(a[i][j]), std::stod(b[i][j]), 1e-4 * (1 + std::fabs(std::stod(b[i][j]))))
          << "epoch " << i + 1 << " column " << j;
}

TEST_F(TrainApp, BadFilesAreSkippedAndListedOrStopTheRun) {
  const std::string bad_data = out("bad_data");
  fs::copy(data(), bad_data, fs::copy_options::recursive);
  std::vector<uint8_t> jpeg = test::read_file(bad_data + "/train/horizontal/0.jpg");
  jpeg.resize(jpeg.size() / 2);
  test::write_file(bad_data + "/train/horizontal/truncated.jpg", jpeg);
  test::write_file(bad_data + "/valid/vertical/noise.png", test::random_bytes(300, 3));
  test::write_file(bad_data + "/train/vertical/.DS_Store", test::random_bytes(50, 4));

  auto args = [&](const std::string& run) {
    std::vector<std::string> a = train_args(run, 1);
    a[2] = bad_data;
    return a;
  };
  RunResult ok = run_tool(args(out("bad_skip")));
  ASSERT_EQ(ok.status, 0) << ok.err;
  const auto bad = read_csv(out("bad_skip") + "/bad_files.csv");
  ASSERT_EQ(bad.size(), 3u);
  EXPECT_NE(bad[1][0].find("truncated.jpg"), std::string::npos);
  EXPECT_NE(bad[2][0].find("noise.png"), std::string::npos);
  const nlohmann::json m = nlohmann::json::parse(test::read_text(out("bad_skip") + "/metrics.json"));
  EXPECT_EQ(m["images"]["train"].get<int>(), 24);
  EXPECT_EQ(m["images"]["valid"].get<int>(), 12);

  std::vector<std::string> fail = args(out("bad_fail"));
  fail.insert(fail.end(), {"--on-bad-file", "fail"});
  RunResult stopped = run_tool(fail);
  EXPECT_EQ(stopped.status, 2);
  EXPECT_NE(stopped.err.find("truncated.jpg"), std::string::npos) << stopped.err;
  EXPECT_FALSE(fs::exists(out("bad_fail") + "/last.h5"));

  // A bad file in the test split alone also stops the run before training.
  const std::string bad_test = out("bad_test_data");
  fs::copy(data(), bad_test, fs::copy_options::recursive);
  test::write_file(bad_test + "/test/vertical/empty.png", {});
  std::vector<std::string> fail_test = train_args(out("bad_test_fail"), 1);
  fail_test[2] = bad_test;
  fail_test.insert(fail_test.end(), {"--on-bad-file", "fail"});
  RunResult stopped_test = run_tool(fail_test);
  EXPECT_EQ(stopped_test.status, 2) << stopped_test.err;
  EXPECT_NE(stopped_test.err.find("empty.png"), std::string::npos) << stopped_test.err;
  EXPECT_FALSE(fs::exists(out("bad_test_fail") + "/last.h5"));
}

TEST_F(TrainApp, AugmentedRunResumesOnTheSameImagesAndDiffersFromPlain) {
  auto args = [&](const std::string& run) {
    std::vector<std::string> a = train_args(run, 3);
    a.insert(a.end(), {"--augment", "hflip,shift=0.1,zoom=0.2,rotate=15,brightness=0.8:1.2"});
    return a;
  };
  RunResult straight = run_tool(args(out("augment_straight")));
  ASSERT_EQ(straight.status, 0) << straight.err;
  EXPECT_NE(straight.err.find("no feature cache"), std::string::npos) << straight.err;
  // Interrupted mid-epoch 2 and resumed: the same draws, so the same history bit for bit.
  RunResult first = run_tool(args(out("augment_resumed")), {"VGGTL_INTERRUPT_AFTER_STEPS=4"});
  ASSERT_EQ(first.status, 130) << first.err;
  std::vector<std::string> again = args(out("augment_resumed"));
  again.push_back("--resume");
  RunResult second = run_tool(again);
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_EQ(history(out("augment_resumed")), history(out("augment_straight")));
  // The augmentation is really applied: the training loss differs from the plain run's.
  const auto plain = history(reference()), augmented = history(out("augment_straight"));
  ASSERT_FALSE(plain.empty());
  ASSERT_FALSE(augmented.empty());
  EXPECT_NE(plain[0][1], augmented[0][1]) << "epoch 1 loss identical with and without --augment";
  // --resume with another augmentation is refused.
  std::vector<std::string> other = args(out("augment_resumed"));
  other[other.size() - 1] = "hflip";
  other.push_back("--resume");
  RunResult refused = run_tool(other);
  EXPECT_EQ(refused.status, 2) << refused.err;
  EXPECT_NE(refused.err.find("--augment"), std::string::npos) << refused.err;
}

TEST_F(TrainApp, ErrorPathsExitWithTwoAndOneLine) {
  auto expect_usage_error = [&](std::vector<std::string> args, const std::string& needle,
                                const std::vector<std::string>& env = {}) {
    RunResult r = run_tool(args, env);
    EXPECT_EQ(r.status, 2) << needle << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, not:\n" << r.err;
  };
  std::vector<std::string> a = train_args(out("err"));
  a[2] = out("no_such_folder");
  expect_usage_error(a, "no_such_folder");
  std::vector<std::string> bad_augment = train_args(out("err_augment"));
  bad_augment.insert(bad_augment.end(), {"--augment", "hflip,twirl=3"});
  expect_usage_error(bad_augment, "--augment: unknown transform 'twirl'");

  const std::string mismatch = out("mismatch");
  fs::create_directories(mismatch);
  fs::copy(data() + "/train", mismatch + "/train", fs::copy_options::recursive);
  fs::copy(data() + "/valid", mismatch + "/valid", fs::copy_options::recursive);
  fs::create_directories(mismatch + "/valid/diagonal");
  test::write_file(mismatch + "/valid/diagonal/x.jpg", test::read_file(data() + "/valid/vertical/0.jpg"));
  a = train_args(out("err_mismatch"));
  a[2] = mismatch;
  expect_usage_error(a, "diagonal");

  const std::string junk = out("junk.h5");
  test::write_file(junk, test::random_bytes(5000, 9));
  a = train_args(out("err_weights"));
  a[4] = junk;
  expect_usage_error(a, "junk.h5");

  a = train_args(out("err_default"));
  a.erase(a.begin() + 3, a.begin() + 5);  // no --weights: the Keras cache default
  expect_usage_error(a, ".keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     {"HOME=" + out("empty_home")});

  a = train_args(out("err_epochs"));
  a[8] = "0";
  expect_usage_error(a, "--epochs");
  a = train_args(out("err_size"));
  a[6] = "100";
  expect_usage_error(a, "--image-size");
  a = train_args(out("err_option"));
  a.push_back("--no-such-option");
  expect_usage_error(a, "no-such-option");
  a = train_args(reference());  // a finished run without --resume
  expect_usage_error(a, "--resume");
  a = train_args(out("err_out"));
  a[a.size() - 5] = reference() + "/history.csv";  // --out names a file
  expect_usage_error(a, "history.csv");

  const std::string one_class = out("one_class");
  fs::create_directories(one_class + "/train");
  fs::create_directories(one_class + "/valid");
  fs::copy(data() + "/train/vertical", one_class + "/train/vertical", fs::copy_options::recursive);
  fs::copy(data() + "/valid/vertical", one_class + "/valid/vertical", fs::copy_options::recursive);
  a = train_args(out("err_one_class"));
  a[2] = one_class;
  expect_usage_error(a, "at least two");
  if (!cuda_available()) {
    a = train_args(out("err_cuda"));
    a.back() = "cuda";
    expect_usage_error(a, "--device cuda");
  }
  RunResult help = run_tool({"vggtl_train", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--feature-cache"), std::string::npos);
  RunResult version = run_tool({"vggtl_train", "--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("oneDNN"), std::string::npos);
}

TEST_F(TrainApp, ExtractWritesTheFeaturesFile) {
  const std::string f = out("features.h5");
  RunResult r = run_tool({"vggtl_extract", "--weights", "none", "--data", data() + "/valid", "--out", f,
                          "--image-size", "64", "--batch-size", "5", "--device", "cpu"});
  ASSERT_EQ(r.status, 0) << r.err;
  FeaturesReader reader(f);
  EXPECT_EQ(reader.rows(), 12);
  EXPECT_EQ(reader.header().feature_shape, (Shape{2, 2, 512}));
  EXPECT_EQ(reader.header().class_names, (std::vector<std::string>{"horizontal", "vertical"}));
  EXPECT_EQ(reader.paths()[0], "horizontal/0.jpg");
  EXPECT_EQ(reader.paths()[11], "vertical/5.png");
  EXPECT_EQ(reader.labels()[0], 0);
  EXPECT_EQ(reader.labels()[11], 1);
  // Other batch sizes, same features up to rounding: where oneDNN runs Winograd (AVX-512 CPUs)
  // its rounding depends on the images per call (up to 1.3e-5 of the RMS against the exact
  // convolution, tests/kernels/test_conv2d.cpp); the bound is 5e-5 of the RMS.
  RunResult again = run_tool({"vggtl_extract", "--weights", "none", "--data", data() + "/valid", "--out",
                              out("features_b7.h5"), "--image-size", "64", "--batch-size", "7", "--device", "cpu"});
  ASSERT_EQ(again.status, 0) << again.err;
  const Tensor a = reader.read_all(), b = FeaturesReader(out("features_b7.h5")).read_all();
  const test::Comparison c = test::compare(b.data<float>(), a.data<float>(), a.numel());
  EXPECT_TRUE(test::within_rms(c, a.numel(), 5e-5));
  EXPECT_GT(c.expected_norm, 0.0);
}

// --precision bf16 on the CPU. Without AVX512-BF16 or AMX (here forced by capping oneDNN's ISA,
// which any CPU can do) every tool refuses it in one line and exits 2, fine-tuning included. With
// it: a run, eval and predict in bf16, metrics.json and the features file naming it, the features
// within 1e-2 of the fp32 ones (max error over max value); fine-tuning from block5_conv1 in bf16
// (lr 1e-4) runs end to end, its history finite, its first epoch's training loss within 5e-2 of
// the fp32 run's (|difference| / (1 + |fp32|); measured 4e-3; the frozen base alone in bf16 moves
// it 2.7e-2). Later epochs are printed, not bounded: this run's 24 images at 32 px give a random
// base's nearly equal features, whose small differences bf16 does not keep, and the validation
// loss runs on BatchNormalization's still-initial moving statistics. The histories against fp32
// are checked on better-separated data in tests/layers/test_vgg16.cpp (head) and
// tests/layers/test_finetune.cpp (fine-tuning).
TEST_F(TrainApp, Bf16OnTheCpuRunsInBf16OrIsRefused) {
  auto expect_refused = [&](std::vector<std::string> args, const std::vector<std::string>& env,
                            const std::string& needle) {
    RunResult r = run_tool(args, env);
    EXPECT_EQ(r.status, 2) << args[0] << " " << needle << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, not:\n" << r.err;
  };
  const std::vector<std::string> no_bf16 = {"ONEDNN_MAX_CPU_ISA=AVX512_CORE"};
  std::vector<std::string> a = train_args(out("bf16_refused"), 1);
  a.insert(a.end(), {"--precision", "bf16"});
  expect_refused(a, no_bf16, "no AVX512-BF16 or AMX-BF16");
  expect_refused({"vggtl_extract", "--weights", "none", "--data", data() + "/valid", "--out", out("refused.h5"),
                  "--image-size", "32", "--device", "cpu", "--precision", "bf16"},
                 no_bf16, "no AVX512-BF16 or AMX-BF16");
  expect_refused({"vggtl_predict", "--model", reference() + "/best.h5", "--device", "cpu", "--precision", "bf16",
                  data() + "/valid"},
                 no_bf16, "no AVX512-BF16 or AMX-BF16");
  a = train_args(out("bf16_finetune_refused"), 1);
  a.insert(a.end(), {"--precision", "bf16", "--trainable-from", "block5_conv1"});
  expect_refused(a, no_bf16, "no AVX512-BF16 or AMX-BF16");
  if (!cpu_has_bf16()) GTEST_SKIP() << "no bf16 on this CPU (" << cpu_bf16_unsupported_reason() << "): refusal checked";
  const std::string ft16 = out("bf16_finetune"), ft32 = out("fp32_finetune");
  for (const auto& [run, precision] : {std::pair<std::string, std::string>{ft16, "bf16"}, {ft32, "fp32"}}) {
    a = test::with_option(train_args(run, 2), "--lr", "0.0001");
    a.insert(a.end(), {"--precision", precision, "--trainable-from", "block5_conv1"});
    RunResult r = run_tool(a);
    ASSERT_EQ(r.status, 0) << precision << ": " << r.err;
  }
  {
    std::ifstream metrics(ft16 + "/metrics.json");
    EXPECT_EQ(nlohmann::json::parse(metrics)["precision"], "bf16");
    const auto h16 = read_csv(ft16 + "/history.csv"), h32 = read_csv(ft32 + "/history.csv");
    ASSERT_EQ(h16.size(), h32.size());
    ASSERT_EQ(h32.size(), 3u);  // the header and 2 epochs
    const std::vector<std::string>& header = h32[0];
    for (size_t i = 1; i < h32.size(); ++i)
      for (size_t j = 1; j < header.size(); ++j) {
        if (header[j] == "seconds") continue;
        const double v16 = std::stod(h16[i][j]), v32 = std::stod(h32[i][j]);
        EXPECT_TRUE(std::isfinite(v16)) << header[j] << " epoch " << h16[i][0];
        const double d = std::fabs(v16 - v32) / (1 + std::fabs(v32));
        if (i == 1 && header[j] == "loss")
          EXPECT_LE(d, 5e-2) << "first epoch's loss: bf16 " << v16 << ", fp32 " << v32;
        std::printf("bf16 fine-tuning from block5_conv1, epoch %s %s: bf16 %.4g, fp32 %.4g (%.1e)\n",
                    h16[i][0].c_str(), header[j].c_str(), v16, v32, d);
      }
  }

  const std::string run = out("bf16");
  a = train_args(run);
  a.insert(a.end(), {"--precision", "bf16"});
  RunResult r = run_tool(a);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& row : history(run))  // the history against fp32's: tests/layers/test_vgg16.cpp
    for (size_t j = 1; j < row.size(); ++j) EXPECT_TRUE(std::isfinite(std::stod(row[j]))) << row[0];
  std::ifstream metrics(run + "/metrics.json");
  EXPECT_EQ(nlohmann::json::parse(metrics)["precision"], "bf16");
  std::ifstream reference_metrics(reference() + "/metrics.json");
  EXPECT_EQ(nlohmann::json::parse(reference_metrics)["precision"], "fp32");  // tf32 asked: the CPU ran fp32

  RunResult e = run_tool({"vggtl_eval", "--model", run + "/best.h5", "--data", data() + "/valid", "--device", "cpu",
                          "--precision", "bf16"});
  EXPECT_EQ(e.status, 0) << e.err;
  RunResult p = run_tool({"vggtl_predict", "--model", run + "/best.h5", "--device", "cpu", "--precision", "bf16",
                          data() + "/valid"});
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 13) << p.out;  // the header and 12 images

  const std::string f32 = out("features_f32.h5"), b16 = out("features_bf16.h5");
  for (const auto& [file, precision] : {std::pair<std::string, std::string>{f32, "fp32"}, {b16, "bf16"}}) {
    RunResult x = run_tool({"vggtl_extract", "--weights", "none", "--data", data() + "/valid", "--out", file,
                            "--image-size", "64", "--batch-size", "5", "--device", "cpu", "--precision", precision});
    ASSERT_EQ(x.status, 0) << x.err;
  }
  FeaturesReader reader16(b16);
  EXPECT_EQ(reader16.header().attributes.at("precision"), "bf16");
  const Tensor fa = FeaturesReader(f32).read_all(), fb = reader16.read_all();
  double err = 0, top = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(fb.data<float>()[i]) - fa.data<float>()[i]));
    top = std::max(top, std::fabs(static_cast<double>(fa.data<float>()[i])));
  }
  EXPECT_LE(err, 1e-2 * top) << "bf16 features: max error " << err << " of " << top;
  std::printf("bf16 features (64x64, random base): max error %.2e of the largest\n", err / top);
}

TEST_F(TrainApp, EveryWeightsLayoutGivesTheSameFeatures) {
  // The Keras-1 notop file as Keras downloads it (names from weight_names, "_W_1:0"), the
  // include-top file, and a Keras-2 full-model file holding the same values: the same features.
  const std::string notop = out("vgg16_notop.h5"), top = out("vgg16_top.h5"), full = out("vgg16_full.h5");
  const std::vector<int64_t> widths = {64, 128, 256, 512, 512};
  test::write_keras_file(notop, test::vgg16_spec(test::KerasNaming::Keras1, widths));
  auto with_top = test::vgg16_spec(test::KerasNaming::Keras1, widths);
  for (auto& l : test::vgg16_top_spec(test::KerasNaming::Keras1, 7 * 7 * 512, 4, 3)) with_top.push_back(l);
  test::write_keras_file(top, with_top);
  CheckpointModel model;
  for (const LayerWeights& l : read_keras_weights(notop).groups) {
    CheckpointLayer cl{l.layer, l.weights.empty() ? "MaxPooling2D" : "Conv2D", {}};
    for (const WeightEntry& w : l.weights)
      cl.weights.push_back(NamedTensor{keras_weight_name(l.layer, w.name.find("_W_") != std::string::npos ? "kernel" : "bias"),
                                       w.value});
    model.layers.push_back(cl);
  }
  write_keras_model(full, model);

  std::vector<Tensor> features;
  for (const std::string& w : {notop, top, full}) {
    const std::string f = out("features_" + fs::path(w).stem().string() + ".h5");
    RunResult r = run_tool({"vggtl_extract", "--weights", w, "--data", data() + "/valid", "--out", f,
                            "--image-size", "32", "--device", "cpu"});
    ASSERT_EQ(r.status, 0) << w << "\n" << r.err;
    features.push_back(FeaturesReader(f).read_all());
  }
  for (size_t k = 1; k < features.size(); ++k) {
    const test::Comparison c = test::compare(features[k].data<float>(), features[0].data<float>(), features[0].numel());
    EXPECT_TRUE(test::within(c, 0.0)) << "layout " << k;
    EXPECT_GT(c.expected_norm, 0.0);
  }
}

}  // namespace vggtl
