// The training run as its named stages (train_stages.h), in order. Two-stage fine-tuning
// (--fine-tune-epochs) runs the head-only epochs, then unfreezes the layers and continues from
// the best weights with a fresh optimizer; the position records the stage, so either resumes.
#include "apps/pipeline/train_run.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <future>
#include <limits>
#include <optional>

#include <sys/resource.h>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/evaluate.h"
#include "apps/pipeline/inference.h"
#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/kept_features.h"
#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/onnx_model.h"
#include "apps/pipeline/shards.h"
#include "apps/pipeline/train_stages.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/atomic_file.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

// An address-space limit (ulimit -v) below what a run reserves does not fail cleanly: oneDNN's
// JIT and libhdf5 use allocations they do not check, and the run dies of SIGSEGV at a point that
// depends on the limit. So a limit is checked up front against a deliberately generous bound:
// 1 GiB (thread stacks, malloc arenas, the JIT, the libraries) plus four copies of the largest
// activation batch (block1's 64 channels at the input size). Measured at --image-size 32 with
// two workers: runs need about 540 MB; with a limit between 180 and 600 MB some crashed.
void check_address_space_limit(const TrainOptions& opt) {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const int64_t size = opt.image_size;
  const int64_t needed = (int64_t{1} << 30) + 4 * int64_t{opt.batch_size} * size * size * 64 * 4;
  if (static_cast<int64_t>(limit.rlim_cur) >= needed) return;
  throw Error("the address-space limit (ulimit -v) is " + std::to_string(limit.rlim_cur >> 20) + " MB; a run of " +
              std::to_string(opt.batch_size) + " images of " + std::to_string(size) + " px needs at least " +
              std::to_string(needed >> 20) + " MB (ulimit -v " + std::to_string(needed >> 10) +
              "), or a smaller --batch-size or --image-size");
}

}  // namespace

int run_training(TrainOptions opt, const std::set<std::string>& given, const std::string& command_line,
                 const TrainObserver* observer) {
  Stopwatch total_clock;
  StageTimes times;
  if (opt.quiet && log_level() < LogLevel::Warning) set_log_level(LogLevel::Warning);  // never lower it
  const auto say = [&](const std::string& s) {
    if (!opt.quiet) std::printf("%s\n", s.c_str());
  };

  // One writer per run folder: a resumed one is locked before its state is read.
  std::unique_ptr<FolderLock> lock;
  std::error_code ec;
  if (opt.resume && !opt.out.empty() && cluster::is_root() && std::filesystem::is_directory(opt.out, ec))
    lock = lock_run_folder(opt.out);
  const std::optional<ResumedRun> resumed = resume_run(&opt, given);
  check_address_space_limit(opt);
  opt.validate();
  if (!opt.out.empty()) check_output_folder(opt.out, "--out");
  if (resumed && resumed->complete && fs::exists(opt.out + "/metrics.json")) {
    const int total = opt.epochs + opt.fine_tune_epochs;
    std::printf("%s: the run is complete (%d epoch%s, best epoch %lld); nothing to resume. To train further, "
                "add --epochs N with N > %d%s.\n",
                opt.out.c_str(), total, total == 1 ? "" : "s",
                static_cast<long long>(resumed->checkpoint.meta->best_epoch), opt.epochs,
                opt.fine_tune_epochs > 0 ? " (one-stage runs only)" : "");
    return 0;
  }

  // Data: every split listed before any work.
  Stopwatch clock;
  const RunSplits splits = list_splits_on_root(resolve_splits(opt.data, opt.train, opt.valid, opt.test));
  times.listing = clock.seconds();
  const std::vector<std::string>& classes = splits.train.classes;
  if (classes.size() < 2)
    throw InputError(splits.train.root + ": " + std::to_string(classes.size()) +
                     " class folder; a classifier needs at least two (one sub-folder per class)");
  const std::string fingerprint = data_fingerprint(splits);
  if (resumed && resumed->checkpoint.meta->data_fingerprint != fingerprint)
    throw InputError("the data changed since the run in " + opt.out + " started (files added, removed, renamed or " +
                     "resized); start a new run");

  clock.reset();
  const BaseWeights base = prepare_base(opt, resumed ? &*resumed : nullptr);
  std::error_code exists_ec;
  const bool folder_existed = !opt.out.empty() && fs::exists(opt.out, exists_ec);
  const std::string out = prepare_run_folder(opt, resumed.has_value(), &lock);
  // A run refused before it wrote anything leaves no folder behind (an interrupted one keeps
  // it: the message tells how to go on in it). Its lock file alone does not count.
  struct EmptyFolderRemover {
    std::string path;
    bool armed;
    std::unique_ptr<FolderLock>* lock;
    ~EmptyFolderRemover() {
      if (!armed || std::uncaught_exceptions() == 0 || interrupt_requested() || !cluster::is_root()) return;
      std::error_code ec;
      fs::directory_iterator it(path, ec);
      for (; !ec && it != fs::directory_iterator(); it.increment(ec))
        if (it->path().filename() != ".lock") return;
      if (ec) return;
      lock->reset();  // removes the lock file
      fs::remove(path, ec);
    }
  } remove_if_empty{out, !folder_existed, &lock};
  if (observer && observer->on_start) observer->on_start(out);

  // Device and precision, once the inputs are known to be usable.
  std::string device_note;
  const Device device = device_for_rank(select_device(opt.device, &device_note));
  if (!device_note.empty()) log_info(device_note);
  const Precision precision = base_precision(opt.precision, device);  // exits 2 for bf16 without CPU support
  if (device.is_cpu() && opt.precision == Precision::TF32 && given.count("precision"))
    log_info("--precision tf32 applies to the GPU; the CPU runs fp32");
  // The CPU trains its convolutions in bf16 (layers/conv2d.h); the GPU's backward is fp32 only.
  if (device.is_cuda() && precision == Precision::BF16 && !convs_from(opt.trainable_from).empty())
    throw InputError("--precision bf16 with --trainable-from on the GPU: the trained convolutions have no bf16 "
                     "backward on the GPU; use --precision tf32 or fp32 (or bf16 on the CPU)");

  RunModel rm = build_run_model(opt, static_cast<int64_t>(classes.size()), device, base, resumed.has_value());
  times.weights = clock.seconds();
  if (!opt.quiet) std::printf("%s", rm.model->summary().c_str());
  std::string class_list;
  for (const std::string& c : classes) class_list += (class_list.empty() ? "" : ", ") + c;
  say("Data: " + std::to_string(splits.train.items.size()) + " train, " + std::to_string(splits.valid.items.size()) +
      " valid" + (splits.test ? ", " + std::to_string(splits.test->items.size()) + " test" : std::string()) +
      " images found; classes: " + class_list);
  say("Device: " + device.str() + " (" + option_word(precision) + ")" + "; out: " + out);

  refuse_bad_files(opt, splits, device);
  const std::string run_id = resumed && !resumed->run_id.empty() ? resumed->run_id : new_run_id();
  RunCheckpointer checkpoints(RunCheckpointer::Run{&opt, classes, out, base.sha256, fingerprint, run_id}, rm, &times);
  checkpoints.stage_base();
  clock.reset();
  TrainInputs inputs;
  try {
    inputs = scan_and_cache(opt, splits, rm, device, base, out, &times, say);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Interrupted) throw;
    const bool kept = std::string(e.what()).find(" are kept in ") != std::string::npos;
    throw Error(std::string(e.what()) + "; no epoch had finished, so " + out +
                    " holds no checkpoint yet: run the same command again to " +
                    (kept ? "continue from the kept features" : "start over"),
                ErrorKind::Interrupted);
  }
  times.features = clock.seconds();
  const RankRole role = rank_role(opt);
  if (role == RankRole::FeatureHelper) return 0;  // its share of the features is with rank 0
  if (const size_t skipped = splits.train.items.size() + splits.valid.items.size() - inputs.train_items.size() -
                             inputs.valid_items.size())
    say("Using " + std::to_string(inputs.train_items.size()) + " train and " +
        std::to_string(inputs.valid_items.size()) + " valid images: " + std::to_string(skipped) +
        " could not be read and are skipped (listed in " + out + "/bad_files.csv)");

  RunState state;
  state.bad_files = inputs.bad_files;
  state.best_value = monitor_is_max(opt.monitor) ? -std::numeric_limits<double>::infinity()
                                                 : std::numeric_limits<double>::infinity();
  if (resumed) {
    const CheckpointMeta& m = *resumed->checkpoint.meta;
    load_checkpoint_weights(*rm.model, resumed->checkpoint, false);
    state.history = resumed->history;
    state.best_value = m.best_value;
    state.best_epoch = static_cast<int>(m.best_epoch);
    if (resumed->complete) {
      say("Every epoch was trained before the run stopped; finishing it: best.h5, the test split and the report");
    } else {
      say("Resuming at epoch " + std::to_string(resumed->position.epoch) + ", batch " +
          std::to_string(resumed->position.batches_done) +
          (opt.fine_tune_epochs > 0 ? " of stage " + std::to_string(resumed->stage) : std::string()) + " (" +
          std::to_string(m.optimizer_step) + " optimizer steps done)");
    }
  }

  clock.reset();
  const double checkpoints_before = times.checkpoints;
  TrainOutcome outcome = run_stages(opt, rm, inputs, checkpoints, &state, resumed, out, say,
                                    observer ? observer->on_epoch_end : std::function<void(const EpochRecord&)>());
  if (role == RankRole::Follower) return 0;  // rank 0 writes the run folder
  times.head_training = clock.seconds() - (times.checkpoints - checkpoints_before);
  const std::vector<KeepFeatures> keeps = {kept_features_of(opt, splits, rm, device, base, out, "train"),
                                           kept_features_of(opt, splits, rm, device, base, out, "valid")};
  if (!outcome.finished) {
    // The features go on serving the resumed run: it need not run the base over the images again.
    std::string kept;
    if (inputs.cache) {
      const std::string t = keep_complete_features(keeps[0], inputs.train_cache, splits.train.items);
      const std::string v = keep_complete_features(keeps[1], inputs.valid_cache, splits.valid.items);
      if (!t.empty() && !v.empty()) kept = "; the features are kept in " + out + " for it";
    }
    throw Error("interrupted at epoch " + std::to_string(outcome.stopped.epoch) + ", batch " +
                    std::to_string(outcome.stopped.batches_done) + "; " + out +
                    "/last.h5 saved: continue with --resume --out " + out + kept,
                ErrorKind::Interrupted);
  }
  remove_kept_features(keeps);  // every epoch is trained: the resumed runs that needed them are over

  // The best epoch's weights, written self-contained while the test split is evaluated.
  const int total_epochs = opt.epochs + opt.fine_tune_epochs;
  const Optimizer& last_optimizer = *outcome.optimizer;
  if (state.best_epoch > 0) {
    load_checkpoint_weights(*rm.model, checkpoints.best(), false);
    checkpoints.save("best.h5", true, EpochPosition{state.best_epoch + 1, 0, {}, 0}, state, last_optimizer,
                     outcome.stage);
  } else {
    log_warning("no epoch improved " + option_word(opt.monitor) + " (not finite?); best.h5 holds the last weights");
    checkpoints.save("best.h5", true, EpochPosition{total_epochs + 1, 0, {}, 0}, state, last_optimizer,
                     outcome.stage);
  }
  // The same weights for Keras 3 users (whose load_model reads no .h5), written meanwhile.
  std::future<void> best_keras = save_keras3_model(out + "/best.keras", *rm.model, rm.spec);
  write_model_onnx(out + "/best.onnx", *rm.model, rm.spec, opt.preprocessing, opt.interpolation, classes);
  ReportInput report;
  report.class_names = classes;
  if (splits.test) {
    clock.reset();
    ImageLoader test_loader(splits.test->items, inputs.loader);
    SplitPredictions p;
    try {
      p = predict_split(*rm.model, rm.first_head, test_loader, true, &times, "test");
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Interrupted) throw;
      checkpoints.wait();
      write_history(out, state);
      throw Error(std::string(e.what()) + "; training is complete and " + out +
                      "/best.h5 is saved: evaluate it with vggtl_eval --model " + out + "/best.h5 --data " +
                      splits.test->root + ", or finish the run with --resume --out " + out,
                  ErrorKind::Interrupted);
    }
    times.evaluation = clock.seconds();
    report_bad_files(p.bad, &state.bad_files);
    report.test = summarize(p.predictions, classes);
    report.predictions = std::move(p.predictions);
    report.has_test = true;
    write_eval_files(out, report.test, report.predictions, classes);
    std::printf("Test accuracy: %.4f (%lld/%lld)\n", report.test.accuracy, static_cast<long long>(report.test.correct),
                static_cast<long long>(report.test.total));
  }
  if (!splits.test) {
    // The final line, --quiet or not: what the run achieved and where it is.
    const double best = state.best_epoch > 0 ? state.best_value : std::numeric_limits<double>::quiet_NaN();
    std::printf("No test split found (no test/ folder beside train/ and valid/, and no --test): best %s %.4f at "
                "epoch %d; run folder %s\n",
                option_word(opt.monitor).c_str(), best, state.best_epoch, out.c_str());
  }
  clock.reset();
  best_keras.get();
  checkpoints.wait();
  times.checkpoints += clock.seconds();
  times.total = total_clock.seconds();

  RunSummary summary{&opt, out, command_line, opt.data.empty() ? splits.train.root : opt.data, device, base,
                     &state, &inputs, &report, times, checkpoints.busy_seconds(), checkpoints.superseded()};
  write_run_folder(summary);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", times.total);
  say("Run folder: " + out + " (best epoch " + std::to_string(state.best_epoch) + ", " + secs + ")");
  return 0;
}

int train_command(const CLI::App& app, const TrainOptions& opt, const std::string& command_line,
                  const TrainObserver* observer) {
  // Before the expensive work: the files libhdf5 could crash or hang on, read by another process.
  precheck_hdf5_inputs({{opt.weights.empty() ? default_weights_path() : opt.weights, Hdf5Role::Weights},
                        {opt.init, Hdf5Role::Checkpoint}});
  if (opt.resume && !opt.out.empty()) {
    try {
      precheck_hdf5_inputs({{opt.out + "/last.h5", Hdf5Role::Checkpoint}, {opt.out + "/best.h5", Hdf5Role::Checkpoint}});
    } catch (const InputError& e) {
      throw InputError(std::string(e.what()) + "; --resume cannot continue from it: restore the run " +
                       "folder from a copy, or start a new run with another --out");
    }
  }
  std::set<std::string> given;
  const nlohmann::json keys = opt.to_json();
  for (const auto& kv : keys.items()) {
    if (app.count(option_flag(kv.key())) > 0) given.insert(kv.key());
  }
  if (app.count("--epochs") > 0) given.insert("epochs");
  return run_training(opt, given, command_line, observer);
}

}  // namespace vggtl
