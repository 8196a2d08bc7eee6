// vggtl_extract and vggtl_train as mpiexec jobs of 1, 2, 3 and 4 processes on the CPU, with
// generated images and real files as a user has them (random-weight Keras files in the download's
// notop layout and a Keras 2 full-model file, an --init checkpoint, a run folder to --resume;
// --weights none in one test only): the features file is the same whatever the number of processes (even with
// empty shards or damaged files skipped), h5py reads it as one dataset, a missing or stale shard
// is named, finished shards are skipped on a re-run, --shard-id runs joined by --merge give the
// same file, training gathered on rank 0 writes the single-process history, --distributed-train
// matches it within 1e-4 relative, and a failing rank ends the job with a line naming it (a
// worker rank failing while rank 0 waits, rank 0 failing after the others finished, and one rank of
// an MPMD job given a truncated weights file). An interrupted np 2 run resumed gives the
// uninterrupted run's history, and only rank 0 speaks.
// Skips, saying why, when the build has no MPI or mpiexec is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "engine/error.h"
#include "io/hdf5/features_file.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "support/keras_files.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_csv;
using test::run_tool;
using test::RunResult;

namespace {

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    if (fs::exists(std::string(dir) + "/" + name)) return std::string(dir) + "/" + name;
  return "";
}

#define REQUIRE_MPIEXEC()                                                                            \
  do {                                                                                               \
    if (!VGGTL_HAVE_MPI) GTEST_SKIP() << "this build has no MPI (configure with -DVGGTL_MPI=ON)";    \
    if (find_program("mpiexec").empty()) GTEST_SKIP() << "mpiexec not found (install openmpi-bin)";  \
  } while (0)

}  // namespace

class MpiApp : public test::ToolSuite<MpiApp> {
 public:
  static constexpr const char* kFolder = "mpi_app_suite";
  static void make_inputs() {
    test::StripesSpec spec;
    spec.per_class_train = 5;
    spec.per_class_valid = 3;
    spec.per_class_test = 2;
    test::make_stripes_dataset(data(), spec);
    // VGG16's real widths, values scaled as He's initialiser would (a well-conditioned base).
    const std::vector<int64_t> widths = {64, 128, 256, 512, 512};
    test::KerasFileOptions notop_options;
    notop_options.he_scaled = true;
    test::write_keras_file(notop(), test::vgg16_spec(test::KerasNaming::Keras1, widths), notop_options);
    test::KerasFileOptions full_options = notop_options;
    full_options.layout = test::KerasLayout::Keras2FullModel;
    full_options.seed = 2;
    test::write_keras_file(full_model(), test::vgg16_spec(test::KerasNaming::Keras2, widths), full_options);
  }

 protected:
  // vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5's layout, and a Keras 2 model.save file.
  static std::string notop() { return root() + "/vgg16_notop.h5"; }
  static std::string full_model() { return root() + "/vgg16_full_model.h5"; }

  // The environment of a job of n processes (0: the tool alone), with `more` "K=V" entries.
  static std::vector<std::string> job_env(int n, const std::vector<std::string>& more = {}) {
    std::vector<std::string> env = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OMP_NUM_THREADS=1"};
#if defined(__SANITIZE_ADDRESS__)
    // Open MPI keeps allocations to the end that LeakSanitizer reports, many from its plugins,
    // which are unloaded by then and cannot be named in a suppression. The processes still run
    // under AddressSanitizer; the single-process tests check vggtl's own code for leaks.
    if (n > 0) env.push_back("ASAN_OPTIONS=detect_leaks=0:abort_on_error=1");
#endif
    env.insert(env.end(), more.begin(), more.end());
    return env;
  }
  // `args` (argv[0] a tool name) as an mpiexec job of n processes; n == 0: the tool alone; with
  // `more_env` "K=V" entries. A job that hangs is killed after 120 s (status 124).
  static RunResult job(int n, std::vector<std::string> args, const std::vector<std::string>& more_env = {}) {
    args[0] = test::tool_path(args[0]);
    std::vector<std::string> argv = {find_program("timeout"), "120"};
    if (n > 0) argv.insert(argv.end(), {find_program("mpiexec"), "--oversubscribe", "-n", std::to_string(n)});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_tool(argv, job_env(n, more_env));
  }
  // An MPMD job: one process for each argument list (argv[0] a tool name), as
  // `mpiexec -n 1 A : -n 1 B`.
  static RunResult mpmd(std::vector<std::vector<std::string>> apps) {
    std::vector<std::string> argv = {find_program("timeout"), "120", find_program("mpiexec"), "--oversubscribe"};
    for (size_t i = 0; i < apps.size(); ++i) {
      apps[i][0] = test::tool_path(apps[i][0]);
      if (i > 0) argv.push_back(":");
      argv.insert(argv.end(), {"-n", "1"});
      argv.insert(argv.end(), apps[i].begin(), apps[i].end());
    }
    return run_tool(argv, job_env(static_cast<int>(apps.size())));
  }
  // Batches of one image: each image's features are computed alone whatever the shards, so
  // every process count must give the same bits.
  static std::vector<std::string> extract_args(const std::string& split, const std::string& file,
                                               const std::string& weights = notop()) {
    return {"vggtl_extract", "--weights", weights, "--data", split, "--out", file, "--image-size", "32",
            "--batch-size", "1", "--device", "cpu", "--workers", "1"};
  }
  static std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
    return test::with(std::move(a), more);
  }
  static void expect_same_features(const std::string& file, const std::string& reference) {
    FeaturesReader a(file), b(reference);
    ASSERT_EQ(a.rows(), b.rows()) << file;
    EXPECT_EQ(a.labels(), b.labels()) << file;
    EXPECT_EQ(a.paths(), b.paths()) << file;
    EXPECT_EQ(a.header().class_names, b.header().class_names) << file;
    const Tensor x = a.read_all(), y = b.read_all();
    ASSERT_EQ(x.nbytes(), y.nbytes());
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << file << ": features differ from " << reference;
    // Equal bits prove nothing of a reference that holds no features: finite and not all zero.
    const float* r = y.data<float>();
    EXPECT_TRUE(std::all_of(r, r + y.numel(), [](float v) { return std::isfinite(v); })) << reference;
    EXPECT_TRUE(std::any_of(r, r + y.numel(), [](float v) { return v != 0.f; })) << reference << ": all zero";
  }
  static std::string test_accuracy_line(const std::string& out) {
    const size_t at = out.find("Test accuracy");
    return at == std::string::npos ? "(none)" : out.substr(at, out.find('\n', at) - at);
  }
};


TEST_F(MpiApp, FeaturesAreTheSameAtOneTwoAndFourProcesses) {
  REQUIRE_MPIEXEC();
  const std::string split = data() + "/train";  // 10 images: shards of 5, or 2-3-2-3
  const RunResult single = job(0, extract_args(split, out("plain.h5")));
  ASSERT_EQ(single.status, 0) << single.err;
  for (int n : {1, 2, 4}) {
    const std::string f = out("np" + std::to_string(n) + ".h5");
    const RunResult r = job(n, extract_args(split, f));
    ASSERT_EQ(r.status, 0) << "np " << n << "\n" << r.err;
    expect_same_features(f, out("plain.h5"));
    for (int k = 0; k < n && n > 1; ++k) EXPECT_TRUE(fs::exists(out("np" + std::to_string(n) + ".shard-" +
                                                                    std::to_string(k) + "-of-" + std::to_string(n) + ".h5")));
  }
  EXPECT_FALSE(fs::exists(out("np1.shard-0-of-1.h5"))) << "one process writes the plain file";
  // The one job on a random base (--weights none): the same bits too.
  ASSERT_EQ(job(0, extract_args(split, out("none_plain.h5"), "none")).status, 0);
  const RunResult none = job(2, extract_args(split, out("none_np2.h5"), "none"));
  ASSERT_EQ(none.status, 0) << none.err;
  expect_same_features(out("none_np2.h5"), out("none_plain.h5"));
  const std::string python =
      test::python().find('/') == std::string::npos ? find_program(test::python()) : test::python();
  if (python.empty()) SKIP_OR_FAIL_IN_CI(test::python() + " not found: h5py cross-check not run");
  // h5py, from another working folder, sees one `features` dataset equal to the plain file's.
  const std::string script =
      "import os, sys\n"
      "try:\n import h5py, numpy\nexcept ImportError:\n print('no h5py'); sys.exit(0)\n"
      "os.chdir('/')\n"
      "a = h5py.File(sys.argv[1], 'r'); b = h5py.File(sys.argv[2], 'r')\n"
      "print(a['features'].is_virtual, a['features'].shape == b['features'].shape,"
      " bool(numpy.array_equal(a['features'][()], b['features'][()])), list(a['paths']) == list(b['paths']))\n";
  const RunResult py = run_tool({python, "-c", script, out("np4.h5"), out("plain.h5")});
  ASSERT_EQ(py.status, 0) << py.err;
  if (py.out == "no h5py\n") SKIP_OR_FAIL_IN_CI(python + " has no h5py: cross-check not run");
  EXPECT_EQ(py.out, "True True True True\n");
}

TEST_F(MpiApp, MoreProcessesThanImagesLeavesEmptyShards) {
  REQUIRE_MPIEXEC();
  const std::string tiny = out("tiny");
  for (const char* c : {"horizontal", "vertical"}) {
    fs::create_directories(tiny + "/" + c);
    fs::copy_file(data() + "/valid/" + c + "/0.jpg", tiny + "/" + c + "/0.jpg");
  }
  const RunResult single = job(0, extract_args(tiny, out("tiny_plain.h5"), full_model()));
  ASSERT_EQ(single.status, 0) << single.err;
  const RunResult r = job(4, extract_args(tiny, out("tiny4.h5"), full_model()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(FeaturesReader(out("tiny4.shard-0-of-4.h5")).rows(), 0);
  EXPECT_EQ(FeaturesReader(out("tiny4.shard-2-of-4.h5")).rows(), 0);
  expect_same_features(out("tiny4.h5"), out("tiny_plain.h5"));
}

TEST_F(MpiApp, MissingOrStaleShardIsNamedAndRerunRedoesOnlyIt) {
  REQUIRE_MPIEXEC();
  const std::string split = data() + "/valid", f = out("resume.h5");
  const std::string s0 = out("resume.shard-0-of-2.h5"), s1 = out("resume.shard-1-of-2.h5");
  ASSERT_EQ(job(0, extract_args(split, out("resume_plain.h5"))).status, 0);
  RunResult r = job(2, extract_args(split, f));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_same_features(f, out("resume_plain.h5"));

  fs::remove(s1);
  try {
    FeaturesReader reader(f);
    ADD_FAILURE() << "read a features file whose shard is missing";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resume.shard-1-of-2.h5 is missing"), std::string::npos) << e.what();
  }
  r = job(0, with(extract_args(split, f), {"--merge", "--num-shards", "2"}));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("resume.shard-1-of-2.h5: shard 1 of 2 is missing"), std::string::npos) << r.err;

  // Re-run: shard 0 is checked and kept (same file), shard 1 is made again.
  const auto kept = fs::last_write_time(s0);
  r = job(2, extract_args(split, f));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("shard 0 of 2 already extracted, skipped"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(s1)) << "shard 1 was not made again";
  EXPECT_EQ(fs::last_write_time(s0), kept);
  expect_same_features(f, out("resume_plain.h5"));

  // A shard 1 of another listing (the train split) in its place: stale, named, never read.
  r = job(0, with(extract_args(data() + "/train", f), {"--shard-id", "1", "--num-shards", "2"}));
  ASSERT_EQ(r.status, 0) << r.err;
  try {
    FeaturesReader reader(f);
    ADD_FAILURE() << "read a features file with a stale shard";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resume.shard-1-of-2.h5"), std::string::npos) << e.what();
  }
  r = job(0, with(extract_args(split, f), {"--merge", "--num-shards", "2"}));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("resume.shard-1-of-2.h5: shard 1 of 2 is stale"), std::string::npos) << r.err;
}

TEST_F(MpiApp, ShardsRunSeparatelyAndMergedGiveTheSameFile) {
  // No MPI needed: --shard-id runs are single processes.
  const std::string split = data() + "/train", f = out("separate.h5");
  ASSERT_EQ(job(0, extract_args(split, out("separate_plain.h5"))).status, 0);
  for (int k : {2, 0, 1}) {
    const RunResult r = job(0, with(extract_args(split, f), {"--shard-id", std::to_string(k), "--num-shards", "3"}));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::exists(f)) << "a single shard does not write the joined file";
  }
  const RunResult m = job(0, with(extract_args(split, f), {"--merge", "--num-shards", "3"}));
  ASSERT_EQ(m.status, 0) << m.err;
  expect_same_features(f, out("separate_plain.h5"));
  const RunResult bad = job(0, with(extract_args(split, f), {"--shard-id", "3", "--num-shards", "3"}));
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--shard-id 3 outside 0..2"), std::string::npos) << bad.err;
}

TEST_F(MpiApp, TrainingGatheredOnRankZeroWritesTheSingleProcessHistory) {
  REQUIRE_MPIEXEC();
  auto train = [&](int n, const std::string& run, const std::vector<std::string>& more = {},
                   const std::string& epochs = "3") {
    return job(n, with({"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32", "--epochs",
                        epochs, "--batch-size", "4", "--seed", "7", "--lr", "0.003", "--device", "cpu", "--workers",
                        "1", "--quiet", "--out", run},
                       more));
  };
  auto history = [](const std::string& run) {
    auto rows = read_csv(run + "/history.csv");
    for (auto& r : rows)
      if (r.size() == 6) r.pop_back();  // seconds differ between runs
    return rows;
  };
  const RunResult single = train(0, out("train_single"));
  ASSERT_EQ(single.status, 0) << single.err;
  const auto reference = history(out("train_single"));
  ASSERT_EQ(reference.size(), 4u);
  for (int n : {2, 3}) {
    const std::string run = out("train_np" + std::to_string(n));
    const RunResult r = train(n, run);
    ASSERT_EQ(r.status, 0) << "np " << n << "\n" << r.err;
    EXPECT_EQ(history(run), reference) << "np " << n;
    EXPECT_EQ(test_accuracy_line(r.out), test_accuracy_line(single.out));
    EXPECT_TRUE(fs::exists(run + "/best.h5"));
    EXPECT_EQ(test::read_text(run + "/test_predictions.csv"), test::read_text(out("train_single") + "/test_predictions.csv"));
  }
  // Starting from a checkpoint (--init, the single run's best.h5): the same at np 1 and 2.
  const std::string init = out("train_single") + "/best.h5";
  const RunResult from_init = train(0, out("init_single"), {"--init", init}, "2");
  ASSERT_EQ(from_init.status, 0) << from_init.err;
  for (int n : {1, 2}) {
    const std::string run = out("init_np" + std::to_string(n));
    const RunResult r = train(n, run, {"--init", init}, "2");
    ASSERT_EQ(r.status, 0) << "np " << n << "\n" << r.err;
    EXPECT_EQ(history(run), history(out("init_single"))) << "np " << n;
    EXPECT_EQ(test::read_text(run + "/test_predictions.csv"),
              test::read_text(out("init_single") + "/test_predictions.csv"));
  }
  EXPECT_NE(history(out("init_single"))[1], history(out("train_single"))[1]) << "--init changed nothing";
  // Bad files found by rank 1 reach rank 0 with their place in the whole listing.
  const std::string damaged = out("train_damaged");
  fs::create_directories(damaged);
  for (const char* split : {"train", "valid", "test"})
    fs::copy(data() + "/" + split, damaged + "/" + split, fs::copy_options::recursive);
  fs::resize_file(damaged + "/train/vertical/3.png", 120);
  fs::resize_file(damaged + "/valid/vertical/0.jpg", 120);
  auto train_on = [&](int n, const std::string& run) {
    return job(n, {"vggtl_train", "--data", damaged, "--weights", notop(), "--image-size", "32", "--epochs", "2",
                   "--batch-size", "4", "--seed", "7", "--lr", "0.003", "--device", "cpu", "--workers", "1",
                   "--quiet", "--out", run});
  };
  ASSERT_EQ(train_on(0, out("damaged_single")).status, 0);
  const RunResult r = train_on(2, out("damaged_np2"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(history(out("damaged_np2")), history(out("damaged_single")));
  const std::string bad = test::read_text(out("damaged_np2") + "/bad_files.csv");
  EXPECT_EQ(bad, test::read_text(out("damaged_single") + "/bad_files.csv"));
  EXPECT_NE(bad.find("train/vertical/3.png"), std::string::npos) << bad;
  EXPECT_NE(bad.find("valid/vertical/0.jpg"), std::string::npos) << bad;
}

TEST_F(MpiApp, DistributedTrainingMatchesOneProcessWithTheSameGlobalBatch) {
  REQUIRE_MPIEXEC();
  // Dropout 0.5 and BatchNorm in the head: both must see the global batch for the histories to
  // agree. Batches of 6 over 10 images: 6 + 4 rows, split 3+3 / 2+2 at np 2, 2+2+2 / 1+1+2 at 3.
  // The processes sum gradients and statistics in another order than one process does, and a
  // step amplifies such rounding the more the larger it is: on the He-scaled base, with this seed,
  // --lr 0.0005 swings val_loss 8.4 -> 0.19 -> 3.5 and np 2 drifts 1.5e-4 from one process; at
  // --lr 0.0001 the loss falls smoothly and np 2 and 3 stay within 2e-6 (a 2-core AVX-512 host).
  auto train = [&](int n, const std::string& run) {
    std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32",
                                  "--epochs", "3", "--batch-size", "6", "--seed", "7", "--lr", "0.0001", "--device",
                                  "cpu", "--workers", "1", "--quiet", "--out", run};
    if (n > 0) a.push_back("--distributed-train");
    return job(n, a);
  };
  const RunResult single = train(0, out("dp_single"));
  ASSERT_EQ(single.status, 0) << single.err;
  const auto reference = read_csv(out("dp_single") + "/history.csv");
  ASSERT_EQ(reference.size(), 4u);
  for (int n : {2, 3}) {
    const std::string run = out("dp_np" + std::to_string(n));
    const RunResult r = train(n, run);
    ASSERT_EQ(r.status, 0) << "np " << n << "\n" << r.err;
    const auto h = read_csv(run + "/history.csv");
    ASSERT_EQ(h.size(), reference.size());
    for (size_t e = 1; e < h.size(); ++e)
      for (size_t c = 1; c < 5; ++c) {  // loss, accuracy, val_loss, val_accuracy (not seconds)
        const double got = std::stod(h[e][c]), want = std::stod(reference[e][c]);
        EXPECT_LE(std::abs(got - want), 1e-4 * std::abs(want) + 1e-12)
            << "np " << n << ", epoch " << e << ", " << reference[0][c] << ": " << got << " vs " << want;
      }
  }
  // A batch with fewer images than processes cannot be split: refused before training.
  const RunResult small = job(2, {"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32",
                                  "--epochs", "1", "--batch-size", "1", "--device", "cpu", "--workers", "1",
                                  "--quiet", "--distributed-train", "--out", out("dp_small")});
  EXPECT_EQ(small.status, 2);
  EXPECT_NE(small.err.find("fewer images than the 2 processes"), std::string::npos) << small.err;
}

TEST_F(MpiApp, FineTuningAugmentationAndHalfPrecisionCachesRunUnderMpiexec) {
  REQUIRE_MPIEXEC();
  // Two-stage fine-tuning (block5_conv2 and up unfrozen after 2 head-only epochs), an f16
  // feature cache, and augmentation with block5_conv3 trained (each rank reads, augments and
  // runs the base on its rows): rank-0 training equals one process bit for bit,
  // --distributed-train within 1e-4 relative (sums in another order; the base is He-scaled, so
  // well-conditioned).
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--trainable-from", "block5_conv2", "--fine-tune-epochs", "1"},
        std::vector<std::string>{"--feature-cache-dtype", "fp16"},
        std::vector<std::string>{"--augment", "hflip,zoom=0.2", "--trainable-from", "block5_conv3"}}) {
    const std::string tag = extra[0] == "--trainable-from" ? "ft" : extra[0] == "--augment" ? "aug" : "f16";
    auto train = [&](int n, bool distributed) {
      const std::string run = out(tag + "_np" + std::to_string(n) + (distributed ? "_dp" : ""));
      std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32",
                                    "--epochs", "2", "--batch-size", "6", "--seed", "5", "--lr", "0.0005",
                                    "--device", "cpu", "--workers", "1", "--quiet", "--out", run};
      a.insert(a.end(), extra.begin(), extra.end());
      if (distributed) a.push_back("--distributed-train");
      const RunResult r = job(n, a);
      EXPECT_EQ(r.status, 0) << tag << " np " << n << "\n" << r.err;
      return read_csv(run + "/history.csv");
    };
    const auto single = train(0, false);
    ASSERT_GE(single.size(), 3u) << tag;
    auto without_seconds = [](std::vector<std::vector<std::string>> rows) {
      for (auto& r : rows)
        if (!r.empty()) r.pop_back();  // seconds, the last column
      return rows;
    };
    EXPECT_EQ(without_seconds(train(2, false)), without_seconds(single)) << tag;
    const auto dp = train(2, true);
    ASSERT_EQ(dp.size(), single.size()) << tag;
    for (size_t e = 1; e < dp.size(); ++e)
      for (size_t c = 1; c + 1 < single[0].size(); ++c) {
        if (single[0][c] == "stage") continue;
        const double got = std::stod(dp[e][c]), want = std::stod(single[e][c]);
        EXPECT_LE(std::abs(got - want), 1e-4 * std::abs(want) + 1e-12)
            << tag << ", epoch " << e << ", " << single[0][c] << ": " << got << " vs " << want;
      }
  }
}

TEST_F(MpiApp, AnInterruptedTwoProcessRunResumesToTheUninterruptedHistory) {
  REQUIRE_MPIEXEC();
  // 10 images in batches of 4: 3 steps an epoch, 9 in all. The interrupted job stops after 4
  // steps (inside epoch 2) as a Ctrl-C would; `--resume`, also at np 2, must end where the
  // uninterrupted np 2 job does, bit for bit, for rank-0 training and --distributed-train alike.
  for (const bool distributed : {false, true}) {
    const std::string tag = distributed ? "dp" : "root";
    auto train = [&](const std::string& run, const std::vector<std::string>& more, const std::vector<std::string>& env) {
      std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32",
                                    "--epochs", "3", "--batch-size", "4", "--seed", "3", "--lr", "0.001", "--device",
                                    "cpu", "--workers", "1", "--quiet", "--out", run};
      if (distributed) a.push_back("--distributed-train");
      a.insert(a.end(), more.begin(), more.end());
      return job(2, a, env);
    };
    const std::string whole = out("resume_" + tag + "_whole"), cut = out("resume_" + tag + "_cut");
    const RunResult w = train(whole, {}, {});
    ASSERT_EQ(w.status, 0) << tag << "\n" << w.err;
    const RunResult stopped = train(cut, {}, {"VGGTL_INTERRUPT_AFTER_STEPS=4"});
    ASSERT_EQ(stopped.status, 130) << tag << "\n" << stopped.err;
    ASSERT_TRUE(fs::exists(cut + "/last.h5")) << tag;
    EXPECT_LT(read_csv(cut + "/history.csv").size(), 4u) << tag << ": the interrupted run finished";
    const RunResult resumed = train(cut, {"--resume"}, {});
    ASSERT_EQ(resumed.status, 0) << tag << "\n" << resumed.err;
    auto without_seconds = [](const std::string& run) {
      auto rows = read_csv(run + "/history.csv");
      for (auto& r : rows)
        if (r.size() == 6) r.pop_back();
      return rows;
    };
    EXPECT_EQ(without_seconds(cut), without_seconds(whole)) << tag;
    EXPECT_EQ(test::read_text(cut + "/test_predictions.csv"), test::read_text(whole + "/test_predictions.csv")) << tag;
  }
}

TEST_F(MpiApp, CtrlCOfMpiexecStopsEveryRankAndResumeFinishesTheRun) {
  REQUIRE_MPIEXEC();
  // The user's Ctrl-C reaches mpiexec, which passes it on to every rank: rank 0 alone says
  // where the run stopped, no MPI_Abort report, last.h5 saved; --resume at np 2 finishes it.
  // --feature-cache off: every epoch runs the base on each rank's rows, so the run lasts.
  const std::string run = out("ctrl_c_np2"), log = out("ctrl_c_np2.out"), err = out("ctrl_c_np2.err");
  std::vector<std::string> a = {test::tool_path("vggtl_train"), "--data", data(), "--weights", notop(),
                                "--image-size", "32", "--epochs", "20", "--batch-size", "4", "--feature-cache",
                                "off", "--distributed-train", "--device", "cpu", "--workers", "1", "--out", run};
  std::vector<std::string> argv = {find_program("mpiexec"), "--oversubscribe", "-n", "2"};
  argv.insert(argv.end(), a.begin(), a.end());
  test::Child child(argv, log, err, job_env(2));
  bool second_epoch = false;
  for (int i = 0; i < 6000 && child.running() && !second_epoch; ++i) {
    second_epoch = test::read_text(log).find("Epoch 2/20") != std::string::npos;
    if (!second_epoch) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!second_epoch) GTEST_SKIP() << "the run ended before its second epoch was seen:\n" << test::read_text(err);
  child.kill_now(SIGINT);
  EXPECT_NE(child.wait(), 0);
  const std::string e = test::read_text(err);
  EXPECT_NE(e.find("vggtl_train (rank 0 of 2): interrupted at epoch "), std::string::npos) << e;
  EXPECT_NE(e.find("last.h5 saved: continue with --resume --out " + run), std::string::npos) << e;
  EXPECT_EQ(e.find("rank 1 of 2"), std::string::npos) << "rank 1 spoke:\n" << e;
  EXPECT_EQ(e.find("MPI_ABORT"), std::string::npos) << e;
  ASSERT_TRUE(fs::exists(run + "/last.h5"));
  const size_t rows_then = read_csv(run + "/history.csv").size();
  EXPECT_LT(rows_then, 21u) << "the run was not stopped";

  a[0] = "vggtl_train";
  a.insert(a.end(), {"--resume", "--quiet"});
  const RunResult resumed = job(2, a);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_csv(run + "/history.csv").size(), 21u);
  EXPECT_TRUE(fs::exists(run + "/metrics.json"));
}

TEST_F(MpiApp, AnMpmdRankGivenATruncatedWeightsFileEndsTheJobNamingItAndTheFile) {
  REQUIRE_MPIEXEC();
  const std::string bad = out("truncated_notop.h5");
  fs::copy_file(notop(), bad, fs::copy_options::overwrite_existing);
  fs::resize_file(bad, fs::file_size(bad) / 2);
  const std::string split = data() + "/valid";
  auto seconds_of = [](const std::function<RunResult()>& f, RunResult* r) {
    const auto t0 = std::chrono::steady_clock::now();
    *r = f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // The job ends non-zero within a minute, the failing rank naming itself and the file.
  auto expect_ended_by = [&](const std::vector<std::vector<std::string>>& apps, const std::string& tool, int rank) {
    RunResult r;
    const double s = seconds_of([&] { return mpmd(apps); }, &r);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.status, 124) << "the job hung until the timeout";
    EXPECT_LT(s, 60.0);
    const std::string who = "rank " + std::to_string(rank) + " of 2";
    EXPECT_NE(r.err.find(tool + " (" + who + "): " + bad), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(tool + ": " + who + " failed (exit status 2); ending the job"), std::string::npos) << r.err;
  };
  expect_ended_by({extract_args(split, out("mpmd.h5")), extract_args(split, out("mpmd.h5"), bad)}, "vggtl_extract",
                  1);
  EXPECT_FALSE(fs::exists(out("mpmd.h5")));

  auto train_args = [&](const std::string& weights) {
    return std::vector<std::string>{"vggtl_train", "--data", data(), "--weights", weights, "--image-size", "32",
                                    "--epochs", "1", "--device", "cpu", "--workers", "1", "--quiet", "--out",
                                    out("mpmd_run")};
  };
  expect_ended_by({train_args(bad), train_args(notop())}, "vggtl_train", 0);
  EXPECT_FALSE(fs::exists(out("mpmd_run") + "/last.h5"));
}

TEST_F(MpiApp, OnlyRankZeroSpeaks) {
  REQUIRE_MPIEXEC();
  // Not --quiet, stdout a pipe as in `mpiexec ... > job.log`: one set of lines, from rank 0.
  for (const bool distributed : {false, true}) {
    std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", notop(), "--image-size", "32",
                                  "--epochs", "2", "--batch-size", "4", "--device", "cpu", "--workers", "1",
                                  "--out", out(distributed ? "speak_dp" : "speak_root")};
    if (distributed) a.push_back("--distributed-train");
    const RunResult r = job(2, a);
    ASSERT_EQ(r.status, 0) << r.err;
    auto count = [](const std::string& text, const std::string& what) {
      size_t n = 0;
      for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
      return n;
    };
    EXPECT_EQ(count(r.out, "Epoch 1/2"), 1u) << r.out;
    EXPECT_EQ(count(r.out, "Epoch 2/2"), 1u) << r.out;
    EXPECT_EQ(count(r.out, "Test accuracy"), 1u) << r.out;
    EXPECT_EQ(count(r.out + r.err, "Data:"), 1u) << r.out << r.err;
    EXPECT_EQ(r.out.find('\r'), std::string::npos) << "carriage returns off a terminal:\n" << r.out;
    EXPECT_EQ(r.err.find("rank 1"), std::string::npos) << r.err;
  }
  // Extraction over 2 ranks, a plain progress line at every update: rank 0 alone prints them,
  // counting the job's 10 images (each rank adds its own), not its shard's 5.
  const std::string split = data() + "/train";
  const RunResult r = job(2, extract_args(split, out("speak.h5")), {"VGGTL_PROGRESS_SECONDS=0"});
  ASSERT_EQ(r.status, 0) << r.err;
  size_t lines = 0;
  for (size_t at = r.out.find("extract: "); at != std::string::npos; at = r.out.find("extract: ", at + 1)) {
    ++lines;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find("/10 after"), std::string::npos) << line;
  }
  EXPECT_GE(lines, 1u) << r.out;
  EXPECT_LE(lines, 5u) << "more lines than rank 0 has batches:\n" << r.out;
}

TEST_F(MpiApp, DistributedTrainingSaysHowItSumsAndRefusesNcclWhereItCannotRun) {
  REQUIRE_MPIEXEC();
  auto train = [&](const std::string& route, const std::string& run) {
    return job(2, {"vggtl_train", "--data", data(), "--weights", full_model(), "--image-size", "32", "--epochs", "1",
                   "--batch-size", "6", "--device", "cpu", "--workers", "1", "--distributed-train", "--allreduce",
                   route, "--out", out(run)});
  };
  const std::string cannot = VGGTL_HAVE_NCCL ? "the model runs on the CPU" : "this build has no NCCL";
  const RunResult automatic = train("auto", "allreduce_auto");
  ASSERT_EQ(automatic.status, 0) << automatic.err;
  const std::string line = "Distributed training over 2 processes: gradients summed by MPI on the host: NCCL "
                           "cannot run here, " + cannot;
  const size_t at = automatic.out.find(line);
  EXPECT_NE(at, std::string::npos) << automatic.out;
  EXPECT_EQ(automatic.out.find(line, at + 1), std::string::npos) << "said once, by rank 0:\n" << automatic.out;
  const RunResult nccl = train("nccl", "allreduce_nccl");
  EXPECT_NE(nccl.status, 0);
  EXPECT_NE(nccl.err.find("--allreduce nccl: " + cannot), std::string::npos) << nccl.err;
}

TEST_F(MpiApp, BadFilesAreSkippedAndCountedPerShard) {
  REQUIRE_MPIEXEC();
  // Damaged files in both halves: each shard skips its own and records how many, the joined
  // file equals the single process's, and a re-run finds both shards complete.
  const std::string split = out("skipping");
  fs::create_directories(split);
  fs::copy(data() + "/valid", split, fs::copy_options::recursive);
  fs::resize_file(split + "/horizontal/0.jpg", 150);
  fs::resize_file(split + "/vertical/1.png", 150);
  const RunResult single = job(0, extract_args(split, out("skipping_plain.h5")));
  ASSERT_EQ(single.status, 0) << single.err;
  ASSERT_EQ(FeaturesReader(out("skipping_plain.h5")).rows(), 4);
  RunResult r = job(2, extract_args(split, out("skipping.h5")));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_same_features(out("skipping.h5"), out("skipping_plain.h5"));
  for (int k = 0; k < 2; ++k) {
    FeaturesReader shard(out("skipping.shard-" + std::to_string(k) + "-of-2.h5"));
    EXPECT_EQ(shard.rows(), 2);
    EXPECT_EQ(shard.header().attributes.at("shard_skipped"), "1");
  }
  const auto kept0 = fs::last_write_time(out("skipping.shard-0-of-2.h5"));
  const auto kept1 = fs::last_write_time(out("skipping.shard-1-of-2.h5"));
  r = job(2, extract_args(split, out("skipping.h5")));
  ASSERT_EQ(r.status, 0) << r.err;
  // Rank 0 says so for its shard (the other ranks do not speak); both files are kept as they were.
  EXPECT_NE(r.err.find("shard 0 of 2 already extracted, skipped"), std::string::npos) << r.err;
  EXPECT_EQ(fs::last_write_time(out("skipping.shard-0-of-2.h5")), kept0);
  EXPECT_EQ(fs::last_write_time(out("skipping.shard-1-of-2.h5")), kept1);
}

TEST_F(MpiApp, AFailingRankEndsTheJobNamingItself) {
  REQUIRE_MPIEXEC();
  // The last image of the listing is damaged: with --on-bad-file fail, rank 1 (the second half)
  // fails while rank 0 waits for it at the barrier.
  const std::string split = out("damaged");
  fs::create_directories(split);
  fs::copy(data() + "/valid", split, fs::copy_options::recursive);
  const std::string last = split + "/vertical/2.jpg";
  ASSERT_TRUE(fs::exists(last));
  fs::resize_file(last, 200);
  const RunResult r = job(2, with(extract_args(split, out("damaged.h5")), {"--on-bad-file", "fail"}));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, 124) << "the job hung until the timeout";
  EXPECT_NE(r.err.find("vggtl_extract (rank 1 of 2): " + last), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vggtl_extract: rank 1 of 2 failed (exit status 2); ending the job"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(out("damaged.h5")));

  // vggtl_train: rank 0 finds the bad file among the gathered features, after rank 1 has sent
  // its rows and is finishing; the job still ends, with rank 0's line.
  const std::string run_data = out("damaged_run");
  fs::create_directories(run_data);
  fs::copy(data() + "/train", run_data + "/train", fs::copy_options::recursive);
  fs::copy(split, run_data + "/valid", fs::copy_options::recursive);
  const RunResult t = job(2, {"vggtl_train", "--data", run_data, "--weights", notop(), "--image-size", "32",
                              "--epochs", "1", "--device", "cpu", "--workers", "1", "--quiet", "--on-bad-file",
                              "fail", "--out", out("damaged_run_out")});
  EXPECT_EQ(t.status, 2) << t.err;
  EXPECT_NE(t.err.find("vggtl_train (rank 0 of 2): " + run_data + "/valid/vertical/2.jpg"), std::string::npos)
      << t.err;
  EXPECT_NE(t.err.find("vggtl_train: rank 0 of 2 failed (exit status 2); ending the job"), std::string::npos)
      << t.err;
  EXPECT_FALSE(fs::exists(out("damaged_run_out") + "/last.h5"));
}

}  // namespace vggtl
