// vggtl_train fine-tuning end to end on the CPU (32x32 generated stripes, random base):
// --trainable-from trains the convs from that layer up on the cached block4_pool activations,
// best.h5 holds them in the Keras layout (checked with h5py too) and vggtl_eval reproduces the
// reported validation metrics; an interrupted run resumes to the same history; the f16 cache is
// close to the f32 one and a spilled cache equals the in-memory one; two stages in one command
// with a stage column, resumable inside stage 2; bad values exit 2 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "io/hdf5/checkpoint.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_csv;
using test::run_tool;
using test::RunResult;
using test::with;

class FineTuneApp : public test::ToolSuite<FineTuneApp> {
 public:
  static constexpr const char* kFolder = "finetune_app_suite";

 protected:
  // 24 training images in batches of 8 = 3 steps per epoch; block5 trains with the head.
  static std::vector<std::string> args(const std::string& run, int epochs = 3,
                                       const std::string& trainable_from = "block5_conv1") {
    return {"vggtl_train", "--data", data(), "--weights", "none", "--image-size", "32", "--epochs",
            std::to_string(epochs), "--batch-size", "8", "--seed", "7", "--lr", "0.0003", "--out", run,
            "--workers", "2", "--device", "cpu", "--trainable-from", trainable_from};
  }
  static std::vector<std::vector<std::string>> history(const std::string& run) { return test::history_rows(run); }
  static const std::string& reference() {
    static const std::string run = [] {
      const std::string r = out("reference");
      RunResult res = run_tool(args(r));
      EXPECT_EQ(res.status, 0) << res.err;
      *reference_stdout_ = res.out;
      return r;
    }();
    return run;
  }
  static std::string* reference_stdout_;
};

std::string* FineTuneApp::reference_stdout_ = new std::string;

const NamedTensor* weight(const Checkpoint& c, const std::string& name) {
  for (const CheckpointLayer& l : c.model.layers)
    for (const NamedTensor& w : l.weights)
      if (w.name == name) return &w;
  return nullptr;
}

TEST_F(FineTuneApp, TrainsBlock5AndBestH5HoldsItInTheKerasLayout) {
  const std::string run = reference();
  EXPECT_NE(reference_stdout_->find("Feature cache: block4_pool output (2, 2, 512) fp32"), std::string::npos)
      << *reference_stdout_;
  const Checkpoint best = read_checkpoint(run + "/best.h5");
  ASSERT_TRUE(best.meta && best.meta->base_included);
  const NamedTensor* k = weight(best, "block5_conv1/kernel:0");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->value.shape(), Shape({3, 3, 512, 512}));
  // A head-only run with the same seed has the same random base: block5 moved, block4 did not.
  RunResult head = run_tool({"vggtl_train", "--data", data(), "--weights", "none", "--image-size", "32", "--epochs",
                             "1", "--batch-size", "8", "--seed", "7", "--out", out("head_only"), "--workers", "2",
                             "--device", "cpu", "--quiet"});
  ASSERT_EQ(head.status, 0) << head.err;
  const Checkpoint base = read_checkpoint(out("head_only") + "/best.h5");
  for (const char* name : {"block5_conv1/kernel:0", "block5_conv3/bias:0", "block4_conv3/kernel:0"}) {
    const Tensor& a = weight(best, name)->value;
    const Tensor& b = weight(base, name)->value;
    const bool same = std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>());
    EXPECT_EQ(same, std::string(name).rfind("block4", 0) == 0) << name;
  }
  // During the run last.h5 holds the trained convs and their optimizer slots, not the frozen base.
  const Checkpoint last = read_checkpoint(run + "/last.h5");
  EXPECT_NE(weight(last, "block5_conv2/kernel:0"), nullptr);
  EXPECT_EQ(weight(last, "block4_conv3/kernel:0"), nullptr);
  bool slot = false;
  for (const NamedTensor& t : last.meta->optimizer_state) slot = slot || t.name == "m/block5_conv1/kernel:0";
  EXPECT_TRUE(slot);

  // h5py sees the Keras layout: group block5_conv1, dataset block5_conv1/kernel:0 of HWIO shape.
  std::string probe;
  if (test::run_command(test::python() + " -c 'import h5py' 2>&1", &probe) != 0) {
    SKIP_OR_FAIL_IN_CI(test::python() + " has no h5py (set VGGTL_PYTHON): " + probe);
  }
  std::string py_out;
  const int rc = test::run_command(
      test::python() + " -c \"import h5py,sys; f=h5py.File(sys.argv[1],'r'); g=f['model_weights']['block5_conv1']; "
                       "print(list(g.attrs['weight_names']), g['block5_conv1']['kernel:0'].shape, "
                       "g['block5_conv1']['bias:0'].shape)\" " +
          run + "/best.h5 2>&1",
      &py_out);
  ASSERT_EQ(rc, 0) << py_out;
  EXPECT_NE(py_out.find("block5_conv1/kernel:0"), std::string::npos) << py_out;
  EXPECT_NE(py_out.find("(3, 3, 512, 512) (512,)"), std::string::npos) << py_out;
}

TEST_F(FineTuneApp, EvalOfBestH5ReproducesTheBestValidationEpoch) {
  const std::string run = reference();
  const nlohmann::json m = nlohmann::json::parse(test::read_text(run + "/metrics.json"));
  const int best = m["best_epoch"].get<int>();
  const auto h = read_csv(run + "/history.csv");
  ASSERT_GE(static_cast<int>(h.size()), best + 1);
  const std::string eval_out = out("eval_valid");
  RunResult e = run_tool({"vggtl_eval", "--model", run + "/best.h5", "--data", data() + "/valid", "--out", eval_out,
                          "--device", "cpu"});
  ASSERT_EQ(e.status, 0) << e.err;
  const nlohmann::json em = nlohmann::json::parse(test::read_text(eval_out + "/metrics.json"));
  const double val_loss = std::stod(h[static_cast<size_t>(best)][3]);
  EXPECT_NEAR(em["loss"].get<double>(), val_loss, 1e-5 * (1 + val_loss));
  EXPECT_NEAR(em["accuracy"].get<double>(), std::stod(h[static_cast<size_t>(best)][4]), 1e-9);
  // And the test split as the run reported it.
  RunResult t = run_tool({"vggtl_eval", "--model", run + "/best.h5", "--data", data() + "/test", "--out",
                          out("eval_test"), "--device", "cpu"});
  ASSERT_EQ(t.status, 0) << t.err;
  const nlohmann::json tm = nlohmann::json::parse(test::read_text(out("eval_test") + "/metrics.json"));
  EXPECT_EQ(tm["correct"], m["test"]["correct"]);
  EXPECT_NEAR(tm["loss"].get<double>(), m["test"]["loss"].get<double>(), 1e-6);
}

TEST_F(FineTuneApp, ResumeAfterAnInterruptGivesTheSameHistory) {
  const std::string run = out("interrupted");
  RunResult first = run_tool(args(run), {"VGGTL_INTERRUPT_AFTER_STEPS=4"});
  ASSERT_EQ(first.status, 130) << first.err;
  RunResult second = run_tool(with(args(run), {"--resume"}));
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("Resuming at epoch 2, batch 1"), std::string::npos) << second.out;
  EXPECT_EQ(history(run), history(reference()));
  RunResult other = run_tool(with(args(run, 3, "block5_conv2"), {"--resume"}));
  EXPECT_EQ(other.status, 2);
  EXPECT_NE(other.err.find("--trainable-from block5_conv2 differs"), std::string::npos) << other.err;
}

TEST_F(FineTuneApp, SpilledCacheEqualsInMemoryAndF16IsClose) {
  const std::string spilled = out("spilled");
  // 70 KB: a batch of 8 rows of 8 KB (block4_pool at 32 px) but neither split.
  RunResult s = run_tool(with(args(spilled), {"--feature-cache-memory", "0.00007"}));
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_NE(s.out.find("in " + spilled + "/feature_cache_train.bin"), std::string::npos) << s.out;
  EXPECT_FALSE(fs::exists(spilled + "/feature_cache_train.bin")) << "the spill file outlived the run";
  EXPECT_EQ(history(spilled), history(reference()));

  std::vector<std::vector<std::vector<std::string>>> halves;
  for (const char* memory : {"0", "0.00004"}) {  // 40 KB: a batch of 8 f16 rows, neither split
    const std::string half = out(std::string("fp16_") + memory);
    RunResult h = run_tool(with(args(half), {"--feature-cache-dtype", "fp16", "--feature-cache-memory", memory}));
    ASSERT_EQ(h.status, 0) << h.err;
    EXPECT_NE(h.out.find("fp16; train "), std::string::npos) << h.out;
    halves.push_back(history(half));
  }
  EXPECT_EQ(halves[0], halves[1]) << "f16 in memory and spilled differ";
  // f16 keeps 11 significant bits of each activation. The random base makes training chaotic
  // after a few steps, so only the first epoch is compared with the f32 run.
  const auto b = history(reference());
  ASSERT_EQ(halves[0].size(), b.size());
  for (size_t j = 1; j < b[0].size(); ++j)
    EXPECT_NEAR(std::stod(halves[0][0][j]), std::stod(b[0][j]), 2e-2 * (1 + std::fabs(std::stod(b[0][j])))) << j;
}

TEST_F(FineTuneApp, TwoStagesInOneCommandResumeInsideStageTwo) {
  auto two = [&](const std::string& run) {
    return with(args(run, 2, "block5_conv2"), {"--fine-tune-epochs", "2", "--fine-tune-lr", "0.0001"});
  };
  RunResult straight = run_tool(two(out("two_stage")));
  ASSERT_EQ(straight.status, 0) << straight.err;
  const auto h = read_csv(out("two_stage") + "/history.csv");
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h[0], (std::vector<std::string>{"epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy",
                                            "seconds"}));
  for (size_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(h[i][0], std::to_string(i));
    EXPECT_EQ(h[i][1], i <= 2 ? "1" : "2");
  }
  EXPECT_NE(straight.out.find("Stage 2: 2 conv layers from block5_conv2 unfrozen"), std::string::npos)
      << straight.out;
  const Checkpoint best = read_checkpoint(out("two_stage") + "/best.h5");
  EXPECT_NE(weight(best, "block5_conv3/kernel:0"), nullptr);

  // 3 steps per epoch: 8 steps stop in epoch 3 (stage 2) after its second batch.
  const std::string run = out("two_stage_interrupted");
  RunResult first = run_tool(two(run), {"VGGTL_INTERRUPT_AFTER_STEPS=8"});
  ASSERT_EQ(first.status, 130) << first.err;
  RunResult second = run_tool(with(two(run), {"--resume"}));
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("Resuming at epoch 3, batch 2 of stage 2"), std::string::npos) << second.out;
  EXPECT_EQ(history(run), history(out("two_stage")));
  EXPECT_EQ(test::read_text(run + "/test_predictions.csv"), test::read_text(out("two_stage") + "/test_predictions.csv"));
}

TEST_F(FineTuneApp, BadValuesExitWithTwoAndOneLine) {
  auto expect_bad = [&](const std::vector<std::string>& extra, const std::string& says) {
    std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", "none", "--out", out("bad"),
                                  "--device", "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    RunResult r = run_tool(a);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  expect_bad({"--trainable-from", "block5_pool"}, "is not a VGG16 conv layer (valid: none, block1_conv1,");
  expect_bad({"--trainable-from", "FC_2"}, "block5_conv3)");
  expect_bad({"--fine-tune-epochs", "2"}, "--fine-tune-epochs needs --trainable-from");
  expect_bad({"--trainable-from", "block5_conv1", "--fine-tune-lr", "0"}, "--fine-tune-lr must be positive");
  expect_bad({"--feature-cache-dtype", "fp8"}, "--feature-cache-dtype");
}

}  // namespace vggtl
