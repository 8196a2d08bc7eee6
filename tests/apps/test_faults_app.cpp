// Faults, driven through the real tools with real files (docs/reliability.md, "Faults"): write
// errors at the system-call level (tests/fault/fault_shim.c, LD_PRELOAD) in every kind of file
// a run writes, one writer per run folder, damaged resume state refused, and kills at write
// calls and at random instants followed by resumes that end bit for bit where an uninterrupted
// run ends. scripts/fault_campaign.sh runs the long versions.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "io/hdf5/checkpoint.h"
#include "vggtl/build_info.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_csv;
using test::run_tool;
using test::RunResult;
using test::with;

namespace {

std::string shim_path() { return std::string(VGGTL_TEST_BINARY_DIR) + "/lib/libvggtl_fault_shim.so"; }

// The shim's environment: calls under `dir`; the `at`th call that `match`es ("fsync:last.h5")
// fails (and every later one when `persist`) with `err`, or kills the process there.
std::vector<std::string> fault_env(const std::string& dir, const std::string& match, long at, const std::string& err,
                                   bool persist, bool kill = false, const std::string& log = "") {
  std::vector<std::string> env = {"LD_PRELOAD=" + shim_path(), "VGGTL_FAULT_DIR=" + dir, "VGGTL_FAULT_MATCH=" + match,
                                  "VGGTL_FAULT_AT=" + std::to_string(at), "VGGTL_FAULT_ERRNO=" + err,
                                  std::string("VGGTL_FAULT_PERSIST=") + (persist ? "1" : "0"),
                                  std::string("VGGTL_FAULT_KILL=") + (kill ? "1" : "0")};
  if (!log.empty()) env.push_back("VGGTL_FAULT_LOG=" + log);
  // A sanitizer runtime checks that it is loaded first; the shim is loaded before it.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan && *asan ? std::string(asan) + ":" : "") +
                "verify_asan_link_order=0");
  return env;
}

struct Call {
  long index;
  std::string op, path;
};

std::vector<Call> read_calls(const std::string& log) {
  std::vector<Call> calls;
  std::ifstream in(log);
  Call c;
  while (in >> c.index >> c.op >> c.path) calls.push_back(c);
  return calls;
}

// "last.h5" for ".../.last.h5.tmp123.4" and ".../last.h5"; "." for the folder itself (as the
// shim's VGGTL_FAULT_MATCH names them).
std::string file_kind(const std::string& path, const std::string& dir) {
  if (path == dir) return ".";
  std::string name = fs::path(path).filename().string();
  const size_t tmp = name.find(".tmp");
  if (!name.empty() && name[0] == '.' && tmp != std::string::npos) name = name.substr(1, tmp - 1);
  return name;
}

std::string op_class(const std::string& op) {
  if (op == "write" || op == "pwrite" || op == "writev" || op == "pwritev" || op == "ftruncate") return "write";
  if (op == "fdatasync") return "fsync";
  return op;
}

std::vector<std::string> error_lines(const std::string& err, const std::string& tool) {
  std::vector<std::string> lines;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(tool + ":", 0) == 0) lines.push_back(line);
  return lines;
}

// VGGTL_FAULT_CAMPAIGN=1 (scripts/fault_campaign.sh): every kind of call with every error, and
// more kills; otherwise the CI sample.
bool campaign() {
  const char* v = std::getenv("VGGTL_FAULT_CAMPAIGN");
  return v && std::string(v) == "1";
}

// Sanitizer builds run every tool several times slower: a smaller sample there.
bool sanitized() {
  const std::string s = VGGTL_SANITIZERS;
  return !s.empty() && s != "OFF";
}

std::string cause_text(const std::string& err) {
  if (err == "EIO") return "Input/output error";
  if (err == "EROFS") return "Read-only file system";
  return "No space left on device";
}

}  // namespace

class FaultsApp : public test::ToolSuite<FaultsApp> {
 public:
  static constexpr const char* kFolder = "faults_app_suite";

 protected:
  // 24 training images in batches of 8: 3 steps per epoch, 3 epochs.
  static std::vector<std::string> train_args(const std::string& run, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"vggtl_train", "--data", data(), "--weights", "none", "--image-size", "32",
                                  "--epochs", "3", "--batch-size", "8", "--seed", "7", "--lr", "0.003",
                                  "--out", run, "--workers", "2", "--device", "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static std::vector<std::string> set(std::vector<std::string> args, const std::string& name,
                                      const std::string& value) {
    return test::with_option(std::move(args), name, value);
  }
  static std::vector<std::vector<std::string>> history(const std::string& run) { return test::history_rows(run); }
  // Continues a run that stopped: --resume when it left a last.h5, else a fresh start.
  static RunResult finish(const std::vector<std::string>& args, const std::string& run) {
    return run_tool(fs::exists(run + "/last.h5") ? with(args, {"--resume"}) : args);
  }
  // What an uninterrupted run gives: history, test predictions, the test metrics and best.h5's
  // trained weights, to compare bit for bit.
  struct Outcome {
    std::vector<std::vector<std::string>> history;
    std::string predictions, test_metrics;
    std::map<std::string, std::vector<float>> best_weights;
  };
  static Outcome outcome_of(const std::string& run) {
    Outcome o;
    o.history = history(run);
    o.predictions = test::read_text(run + "/test_predictions.csv");
    const nlohmann::json m = nlohmann::json::parse(test::read_text(run + "/metrics.json"));
    o.test_metrics = m["test"].dump() + " best_epoch " + m["best_epoch"].dump();
    const Checkpoint best = read_checkpoint(run + "/best.h5");
    for (const CheckpointLayer& l : best.model.layers)
      for (const NamedTensor& w : l.weights) {
        const float* p = w.value.data<float>();
        o.best_weights[l.name + "/" + w.name] = std::vector<float>(p, p + w.value.numel());
      }
    return o;
  }
  static void expect_same(const Outcome& a, const Outcome& b, const std::string& what) {
    EXPECT_EQ(a.history, b.history) << what;
    EXPECT_EQ(a.predictions, b.predictions) << what;
    EXPECT_EQ(a.test_metrics, b.test_metrics) << what;
    EXPECT_TRUE(a.best_weights == b.best_weights) << what << ": best.h5 differs";
    EXPECT_FALSE(a.best_weights.empty()) << what;
  }
};


// Disk full (ENOSPC from that call on), an I/O error and a read-only file system (from the call
// on) at the first open, write, fsync and rename of every kind of file a run writes: one line
// naming the file and the cause, exit status 1, and once the disk is back the run continues
// from its last complete checkpoint to the uninterrupted run's results, bit for bit.
TEST_F(FaultsApp, WriteErrorsInEveryFileOfARunFailCleanlyAndTheRunResumesExactly) {
  ASSERT_TRUE(fs::exists(shim_path())) << shim_path();
  // The spilled feature cache is one of the files: 20 KB holds a batch (8 rows of 2 KB) but
  // neither split (24 and 12 rows).
  const std::vector<std::string> spill = {"--feature-cache-memory", "0.00002"};
  const std::string reference = out("reference");
  RunResult r = run_tool(train_args(reference, spill));
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_NE(r.out.find("feature_cache_train.bin"), std::string::npos) << r.out;
  const Outcome expected = outcome_of(reference);

  // A run under the shim that fails nothing lists the calls to choose from.
  const std::string planned = out("planned");
  const std::string log = out("planned.calls");
  RunResult p = run_tool(train_args(planned, spill), fault_env(planned, "", -1, "ENOSPC", false, false, log));
  ASSERT_EQ(p.status, 0) << p.err;
  std::set<std::string> kinds;  // "op:file", the first call of each fails in turn
  for (const Call& c : read_calls(log)) kinds.insert(op_class(c.op) + ":" + file_kind(c.path, planned));
  for (const char* must : {"open:last.h5", "write:last.h5", "fsync:last.h5", "rename:last.h5", "write:best.h5",
                           "rename:best.h5", "write:history.csv", "fsync:history.csv", "rename:history.csv",
                           "write:report.html", "write:metrics.json", "open:feature_cache_train.bin",
                           "write:feature_cache_train.bin", "write:feature_cache_valid.bin", "fsync:.",
                           "write:best.keras", "write:best.onnx", "rename:best.onnx"})
    EXPECT_TRUE(kinds.count(must)) << "the run made no " << must << " call: the plan is stale";

  // ENOSPC stays (a full disk: every later call fails too, so the error may name a later file
  // of the run); EIO and EROFS hit the one call, and the error names its file. The CI sample:
  // the first call of each class on the run's main files, errors in turn; the campaign: every
  // class on every file with every error.
  std::vector<std::pair<std::string, std::string>> faults;  // what, error
  const std::vector<std::string> ci = {"open:last.h5", "write:last.h5", "fsync:last.h5", "rename:last.h5",
                                       "write:best.h5", "rename:best.h5", "write:history.csv",
                                       "fsync:history.csv", "rename:history.csv", "write:report.html",
                                       "write:metrics.json", "open:feature_cache_train.bin",
                                       "write:feature_cache_train.bin", "write:feature_cache_valid.bin", "fsync:.",
                                       "write:best.keras"};
  for (const std::string& must : ci) EXPECT_TRUE(kinds.count(must)) << "the run made no " << must << " call";
  if (campaign()) {
    const char* errors[] = {"ENOSPC", "EIO", "EROFS"};
    for (const std::string& what : kinds) faults.emplace_back(what, errors[faults.size() % 3]);
  } else {
    faults = {{"write:last.h5", "ENOSPC"}, {"fsync:last.h5", "EIO"}, {"rename:best.h5", "EROFS"},
              {"write:history.csv", "EIO"}, {"open:feature_cache_train.bin", "EROFS"},
              {"write:feature_cache_valid.bin", "ENOSPC"}, {"fsync:.", "EIO"}, {"write:report.html", "ENOSPC"},
              {"write:best.keras", "ENOSPC"},
              {"write:best.onnx", "EIO"}};
    if (sanitized()) faults.resize(3);
  }
  int n = 0, absorbed = 0;
  for (const auto& [what, err] : faults) {
    const std::string run = out("fault" + std::to_string(n++));
    SCOPED_TRACE(what + " fails with " + err);
    const bool disk_full = err == "ENOSPC";
    RunResult f = run_tool(train_args(run, spill), fault_env(run, what, 0, err, disk_full));
    if (f.status == 0) {
      // A single failed call may be absorbed, never a full disk: libhdf5 opens a file it creates
      // once to probe it and retries, and the write-ahead of best.h5's frozen layers is an
      // optimisation (best.h5 is then written whole at the end, with a warning).
      EXPECT_FALSE(disk_full) << f.err;
      if (what == "write:best.h5") {
        EXPECT_NE(f.err.find("could not write ahead the frozen layers of " + run + "/best.h5"), std::string::npos)
            << f.err;
      }
      expect_same(outcome_of(run), expected, what);
      ++absorbed;
      if (!HasFailure()) fs::remove_all(run);
      continue;
    }
    EXPECT_EQ(f.status, 1) << f.err;
    const std::vector<std::string> lines = error_lines(f.err, "vggtl_train");
    ASSERT_EQ(lines.size(), 1u) << f.err;
    const std::string file = what.substr(what.find(':') + 1);
    EXPECT_NE(lines[0].find(run), std::string::npos) << lines[0];
    if (file != "." && !disk_full) {
      EXPECT_NE(lines[0].find(file), std::string::npos) << lines[0];
    }
    EXPECT_NE(lines[0].find(cause_text(err)), std::string::npos) << lines[0];
    EXPECT_EQ(lines[0].find(".tmp"), std::string::npos) << "names a temporary: " << lines[0];
    if (fs::exists(run + "/last.h5")) {
      EXPECT_NO_THROW(read_checkpoint(run + "/last.h5"));
    }
    EXPECT_FALSE(fs::exists(run + "/.lock")) << "the lock outlived the run";
    // Space is back: the run continues to the uninterrupted run's results.
    RunResult again = finish(train_args(run, spill), run);
    ASSERT_EQ(again.status, 0) << again.err;
    expect_same(outcome_of(run), expected, what);
    if (!HasFailure()) fs::remove_all(run);  // each holds a 59 MB best.h5; failures stay to inspect
  }
  std::printf("write faults: %zu, of which %d absorbed (exit 0, same results); the others failed cleanly and "
              "resumed exactly\n", faults.size(), absorbed);
}

// vggtl_extract: a shard and the joined file, each failing at its first write, sync and rename.
TEST_F(FaultsApp, WriteErrorsInFeaturesShardsAndTheMergedFileFailCleanly) {
  const std::string dir = out("features");
  fs::create_directories(dir);
  const std::string file = dir + "/train.h5";
  auto extract = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"vggtl_extract", "--weights", "none", "--data", data() + "/train", "--out", file,
                                  "--image-size", "32", "--device", "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<std::string> shard0 = {"--shard-id", "0", "--num-shards", "2"};
  const std::vector<std::string> shard1 = {"--shard-id", "1", "--num-shards", "2"};
  const std::vector<std::string> merge = {"--merge", "--num-shards", "2"};
  const std::string log = dir + "/calls", merge_log = dir + "/merge_calls";
  ASSERT_EQ(run_tool(extract(shard0), fault_env(dir, "", -1, "ENOSPC", false, false, log)).status, 0);
  ASSERT_EQ(run_tool(extract(shard1)).status, 0);
  ASSERT_EQ(run_tool(extract(merge), fault_env(dir, "", -1, "ENOSPC", false, false, merge_log)).status, 0);
  std::set<std::string> kinds;  // "shard op:file" and "merge op:file"
  for (const Call& c : read_calls(log)) kinds.insert("shard " + op_class(c.op) + ":" + file_kind(c.path, dir));
  for (const Call& c : read_calls(merge_log)) kinds.insert("merge " + op_class(c.op) + ":" + file_kind(c.path, dir));
  EXPECT_TRUE(kinds.count("shard write:train.shard-0-of-2.h5")) << "no write of the shard seen";
  EXPECT_TRUE(kinds.count("merge write:train.h5")) << "no write of the merged file seen";
  int n = 0;
  for (const std::string& what : kinds) {
    const std::string err = n++ % 2 ? "EIO" : "ENOSPC";
    SCOPED_TRACE(what + " fails with " + err);
    const bool shard = what.rfind("shard", 0) == 0;
    if (shard) fs::remove(dir + "/train.shard-0-of-2.h5");
    const std::string before = test::read_text(file);
    RunResult f = run_tool(extract(shard ? shard0 : merge), fault_env(dir, what.substr(6), 0, err, true));
    EXPECT_EQ(f.status, 1) << f.err;
    const std::vector<std::string> lines = error_lines(f.err, "vggtl_extract");
    ASSERT_EQ(lines.size(), 1u) << f.err;
    EXPECT_NE(lines[0].find(cause_text(err)), std::string::npos) << lines[0];
    EXPECT_EQ(lines[0].find(".tmp"), std::string::npos) << lines[0];
    // A failed sync of the folder comes after the rename: the new file is complete, only its
    // durability is in doubt, and the error says so.
    if (!shard && what != "merge fsync:.") {
      EXPECT_TRUE(test::read_text(file) == before) << "the merged file changed";
    }
    RunResult again = run_tool(extract(shard ? shard0 : merge));
    EXPECT_EQ(again.status, 0) << again.err;
  }
}

// Two processes on one --out: the second stops at once naming the folder and the first; a lock
// left by a killed process is taken over.
TEST_F(FaultsApp, OneWriterPerRunFolder) {
  const std::string run = out("locked");
  test::Child first(set(train_args(run), "--epochs", "400"));
  for (int i = 0; i < 3000 && !fs::exists(run + "/.lock"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(first.running());
  ASSERT_TRUE(fs::exists(run + "/.lock"));
  for (const bool resume : {false, true}) {
    RunResult second = run_tool(resume ? with(train_args(run), {"--resume"}) : train_args(run));
    EXPECT_EQ(second.status, 1) << second.err;
    const std::vector<std::string> lines = error_lines(second.err, "vggtl_train");
    ASSERT_EQ(lines.size(), 1u) << second.err;
    EXPECT_EQ(lines[0], "vggtl_train: " + run + " is in use by process " + std::to_string(first.pid()) +
                            " (vggtl_train); wait for it or choose another --out");
  }
  EXPECT_TRUE(first.running()) << "the second process disturbed the first";
  for (int i = 0; i < 3000 && !fs::exists(run + "/last.h5"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  first.kill_now(SIGKILL);
  EXPECT_EQ(first.wait(), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(run + "/.lock")) << "SIGKILL leaves the file; the lock itself is gone";
  RunResult resumed =
      run_tool(with(set(train_args(run), "--epochs", "400"), {"--resume"}), {"VGGTL_INTERRUPT_AFTER_STEPS=1"});
  EXPECT_EQ(resumed.status, 130) << resumed.err;
  EXPECT_NE(resumed.err.find("process " + std::to_string(first.pid()) + " left its lock behind"), std::string::npos)
      << resumed.err;
  EXPECT_FALSE(fs::exists(run + "/.lock")) << "not released at exit";
}

// Damaged resume state: refused with what is wrong and what to do, and nothing trained.
TEST_F(FaultsApp, DamagedResumeStateIsRefused) {
  const std::string good = out("stopped");
  ASSERT_EQ(run_tool(train_args(good), {"VGGTL_INTERRUPT_AFTER_STEPS=7"}).status, 130);  // in epoch 3
  const std::string other = out("other_run");
  ASSERT_EQ(run_tool(set(train_args(other), "--seed", "8"), {"VGGTL_INTERRUPT_AFTER_STEPS=7"}).status, 130);
  const std::string same_seed = out("same_seed_run");  // same options: only the run id tells it apart
  ASSERT_EQ(run_tool(train_args(same_seed), {"VGGTL_INTERRUPT_AFTER_STEPS=7"}).status, 130);

  struct Case {
    std::string name, expect;
    std::function<void(const std::string&)> damage;
  };
  auto set_version = [](const std::string& file, const std::string& version) {
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t g = H5Gopen2(f, "vggtl", H5P_DEFAULT);
    ASSERT_GE(g, 0);
    H5Adelete(g, "vggtl_version");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, version.size() + 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "vggtl_version", t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, version.c_str());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Gclose(g);
    H5Fclose(f);
  };
  const std::vector<Case> cases = {
      {"truncated", "truncated",
       [](const std::string& d) { fs::resize_file(d + "/last.h5", fs::file_size(d + "/last.h5") / 2); }},
      {"emptied", "empty", [](const std::string& d) { fs::resize_file(d + "/last.h5", 0); }},
      {"another run's last.h5", "history.csv: row 1",
       [&](const std::string& d) {
         fs::copy_file(other + "/last.h5", d + "/last.h5", fs::copy_options::overwrite_existing);
       }},
      {"another identical run's last.h5", "come from different runs",
       [&](const std::string& d) {
         for (const char* f : {"/last.h5", "/history.csv"})
           fs::copy_file(same_seed + f, d + f, fs::copy_options::overwrite_existing);
       }},
      {"another vggtl version", "written by vggtl 0.0.1-other",
       [&](const std::string& d) { set_version(d + "/last.h5", "0.0.1-other"); }},
      {"history.csv edited", "history.csv: row 2",
       [](const std::string& d) {
         std::string h = test::read_text(d + "/history.csv");
         const size_t row2 = h.find("\n2,");
         ASSERT_NE(row2, std::string::npos);
         const size_t digit = h.find_first_of("123456789", row2 + 3);
         h[digit] = h[digit] == '9' ? '8' : static_cast<char>(h[digit] + 1);
         std::ofstream(d + "/history.csv", std::ios::binary) << h;
       }},
      {"not a vggtl checkpoint", "not a vggtl checkpoint", [&](const std::string& d) {
         hid_t f = H5Fopen((d + "/last.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
         ASSERT_GE(f, 0);
         H5Ldelete(f, "vggtl", H5P_DEFAULT);
         H5Fclose(f);
       }},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string run = out("damaged" + std::to_string(n++));
    fs::copy(good, run, fs::copy_options::recursive);
    c.damage(run);
    const std::string last_before = test::read_text(run + "/last.h5");
    RunResult r = run_tool(with(train_args(run), {"--resume"}));
    EXPECT_EQ(r.status, 2) << r.err;
    const std::vector<std::string> lines = error_lines(r.err, "vggtl_train");
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(c.expect), std::string::npos) << lines[0];
    EXPECT_TRUE(lines[0].find("start a new run") != std::string::npos ||
                lines[0].find("restore") != std::string::npos) << "says what to do: " << lines[0];
    EXPECT_EQ(r.out.find("Epoch"), std::string::npos) << "trained from a damaged state";
    EXPECT_TRUE(test::read_text(run + "/last.h5") == last_before) << "last.h5 changed";
  }
  // The undamaged folder resumes: the checks are not simply refusing everything.
  RunResult ok = run_tool(with(train_args(good), {"--resume"}));
  EXPECT_EQ(ok.status, 0) << ok.err;
}

// Kills at write calls (inside checkpoint writes, syncs and renames) and at random instants
// (seeded, printed) over a two-stage fine-tuning run with a spilled feature cache, and over one
// with augmentation; every chain of resumes ends with the uninterrupted run's results.
TEST_F(FaultsApp, KillsAtWriteCallsAndRandomInstantsThenResumeExactly) {
  const std::vector<std::vector<std::string>> configs = {
      {"--trainable-from", "block5_conv2", "--fine-tune-epochs", "2", "--fine-tune-lr", "0.001",
       "--feature-cache-memory", "0.00007"},
      {"--trainable-from", "block5_conv3", "--fine-tune-epochs", "1", "--augment", "hflip,shift=0.1"}};
  const char* seed_env = std::getenv("VGGTL_FAULT_SEED");
  const unsigned seed = seed_env && *seed_env ? static_cast<unsigned>(std::stoul(seed_env)) : 20261207u;
  std::printf("kill seed %u\n", seed);
  std::mt19937 rng(seed);
  int kills = 0;
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    const std::vector<std::string> extra = configs[ci];
    const std::string reference = out("kill_reference" + std::to_string(ci));
    const std::string log = reference + ".calls";
    const auto t0 = std::chrono::steady_clock::now();
    RunResult r = run_tool(set(train_args(reference, extra), "--epochs", "2"),
                           fault_env(reference, "", -1, "ENOSPC", false, false, log));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.status, 0) << r.err;
    const Outcome expected = outcome_of(reference);
    // Kill points: the Nth call of a class on a checkpoint (or any renamed) file.
    std::vector<std::pair<std::string, long>> points;
    std::map<std::string, long> seen;
    for (const Call& c : read_calls(log)) {
      const std::string what = op_class(c.op) + ":" + file_kind(c.path, reference);
      const long nth = seen[what]++;
      if (what.find(".h5") != std::string::npos || c.op == "rename") points.emplace_back(what, nth);
    }
    ASSERT_FALSE(points.empty());
    const int chains = campaign() ? 12 : sanitized() ? 1 : 2;
    const int random_kills = campaign() ? 2 : 1;  // per chain, at most
    for (int k = 0; k < chains; ++k) {
      const std::string run = out("killed" + std::to_string(ci) + "_" + std::to_string(k));
      // Even k: SIGKILL at a checkpoint write call, the next resume at a random instant; odd k:
      // random instants only. Then resumes until one finishes.
      const auto& at = points[std::uniform_int_distribution<size_t>(0, points.size() - 1)(rng)];
      std::string trace;
      if (k % 2 == 0) {
        RunResult killed = run_tool(set(train_args(run, extra), "--epochs", "2"),
                                    fault_env(run, at.first, at.second, "ENOSPC", false, true));
        trace += "killed at " + at.first + " call " + std::to_string(at.second);
        EXPECT_EQ(killed.status, 128 + SIGKILL) << trace;
        ++kills;
      }
      for (int attempt = 0; attempt < 20; ++attempt) {
        const int ms = std::uniform_int_distribution<int>(50, static_cast<int>(seconds * 1000))(rng);
        const std::vector<std::string> base = set(train_args(run, extra), "--epochs", "2");
        const std::vector<std::string> args = fs::exists(run + "/last.h5") ? with(base, {"--resume"}) : base;
        if (attempt >= random_kills) {  // then to the end
          RunResult last = run_tool(args);
          ASSERT_EQ(last.status, 0) << trace << "\n" << last.err;
          break;
        }
        test::Child child(args);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        if (!child.running()) {
          ASSERT_EQ(child.wait(), 0) << trace;
          break;
        }
        child.kill_now(SIGKILL);
        child.wait();
        trace += ", killed after " + std::to_string(ms) + " ms";
        ++kills;
      }
      SCOPED_TRACE(trace);
      std::printf("config %zu chain %d: %s\n", ci, k, trace.c_str());
      expect_same(outcome_of(run), expected, trace);
      if (!HasFailure()) fs::remove_all(run);
    }
  }
  std::printf("kills: %d (seed %u), every resume chain ended bit for bit as the uninterrupted run\n", kills, seed);
  EXPECT_GE(kills, campaign() ? 30 : 2);
}

// Resources that cannot do: a memory budget under one batch, no room for the spill files, and
// small address-space limits end the run with one line before or instead of a crash.
TEST_F(FaultsApp, TooSmallResourcesGiveOneClearError) {
  RunResult tiny = run_tool(train_args(out("tiny_budget"), {"--feature-cache-memory", "0.000001"}));
  EXPECT_EQ(tiny.status, 2) << tiny.err;
  std::vector<std::string> lines = error_lines(tiny.err, "vggtl_train");
  ASSERT_EQ(lines.size(), 1u) << tiny.err;
  EXPECT_NE(lines[0].find("cannot hold one batch of features (8 rows of"), std::string::npos) << lines[0];
  EXPECT_EQ(tiny.out.find("Epoch"), std::string::npos);

  const std::string full = out("no_room");
  RunResult room = run_tool(train_args(full, {"--feature-cache-memory", "0.00002"}),
                            with(fault_env(full, "", -1, "ENOSPC", false), {"VGGTL_FAULT_FREE_BYTES=50000"}));
  EXPECT_EQ(room.status, 1) << room.err;
  lines = error_lines(room.err, "vggtl_train");
  ASSERT_EQ(lines.size(), 1u) << room.err;
  EXPECT_NE(lines[0].find("the feature cache needs 0.1 MB on disk"), std::string::npos) << lines[0];
  EXPECT_EQ(room.out.find("Epoch"), std::string::npos);

  if (sanitized()) GTEST_SKIP() << "address-space limits and sanitizer shadow memory do not mix";
  // Below the bound the run is refused before any work, with the limit it needs; above it, it
  // finishes. (Without the check, limits from 180 to 600 MB crashed inside oneDNN or libhdf5.)
  // A build with the CUDA backend maps about 1 GB of libraries (cuBLAS, cuDNN) before main():
  // under a smaller limit the dynamic loader refuses to start it, which is no run of ours.
  int refused_by_us = 0;
  for (const int mb : {100, 300, 500, 700, 1000, 2048}) {
    const std::string run = out("ulimit" + std::to_string(mb));
    std::string command = "ulimit -v " + std::to_string(mb * 1024) + " && exec";
    for (const std::string& a : train_args(run)) command += " '" + (a == "vggtl_train" ? test::tool_path(a) : a) + "'";
    RunResult r = run_tool({"/bin/sh", "-c", command});
    SCOPED_TRACE("ulimit -v " + std::to_string(mb) + " MB");
    if (r.status == 127 && r.err.find("error while loading shared libraries") != std::string::npos) continue;
    if (mb < 1032) {
      ++refused_by_us;
      EXPECT_EQ(r.status, 1) << r.err;
      lines = error_lines(r.err, "vggtl_train");
      ASSERT_EQ(lines.size(), 1u) << r.err;
      EXPECT_NE(lines[0].find("the address-space limit (ulimit -v) is " + std::to_string(mb) +
                              " MB; a run of 8 images of 32 px needs at least 1032 MB"),
                std::string::npos) << lines[0];
      EXPECT_EQ(r.out.find("Epoch"), std::string::npos);
    } else {
      EXPECT_EQ(r.status, 0) << r.err;
    }
  }
  EXPECT_GE(refused_by_us, 1) << "no limit below the bound reached vggtl's own check";
}

}  // namespace vggtl
