// The stages of vggtl_train's run (run_training in train_run.h calls them in this order), each a
// function or object of its own so that it can be read, changed and tested alone:
//   resume_run         --resume: the stopped run's options, history and position
//   prepare_base       the base weights file found, hashed in the background, checked
//   prepare_run_folder the output folder, refused when it holds another run
//   build_run_model    base + head, weights, --trainable-from, --init
//   scan_and_cache     bad files found, the frozen part run once per image (or loaders kept)
//   make_optimizer     one per training stage
//   RunCheckpointer    best.h5 / last.h5 with the run state, written in the background
//   plan_stages        the stages a run walks (one, or the head then fine-tuning) and where a
//                      resumed run begins; run_stages walks them, every epoch's end going through
//                      one sink (record, best epoch, checkpoints, history.csv)
//   rank_role          what this process does under mpiexec, decided once
//   write_run_folder   history.csv, bad_files.csv, metrics.json, report.html
// Tested in process by tests/apps/test_train_stages.cpp, end to end by test_train_app.cpp and
// test_finetune_app.cpp.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apps/pipeline/checkpoint_writer.h"
#include "apps/pipeline/features.h"
#include "apps/pipeline/model_spec.h"
#include "apps/pipeline/report.h"
#include "apps/pipeline/splits.h"
#include "apps/pipeline/stage_times.h"
#include "apps/pipeline/train_options.h"
#include "apps/pipeline/trainer.h"
#include "io/folder_lock.h"
#include "io/hdf5/checkpoint.h"
#include "io/loader/image_loader.h"
#include "kernels/augment.h"
#include "layers/model.h"
#include "layers/optimizer.h"

namespace vggtl {

// Where a stopped run continues.
struct ResumedRun {
  Checkpoint checkpoint;  // OUT/last.h5
  std::vector<EpochRecord> history;
  EpochPosition position;
  int stage = 1;  // of a two-stage run (1 otherwise)
  bool complete = false;  // every epoch was trained (position past the last one)
  std::string run_id;     // empty in checkpoints written before run ids
};

// A new run's identity, stored in every checkpoint it writes: --resume refuses a last.h5 or
// best.h5 of another run.
std::string new_run_id();

// --resume: reads OUT/last.h5, refuses an option the user gave (`given`, keys as in
// TrainOptions::to_json) that differs from the stopped run's, and makes *opt the run's own
// options (a new --epochs is kept where a one-stage run allows it). Without --resume: nothing.
// InputError naming the file for a missing or damaged checkpoint. A run folder without last.h5
// (stopped before its first epoch ended) is started afresh: nothing, with opt->resume cleared.
std::optional<ResumedRun> resume_run(TrainOptions* opt, const std::set<std::string>& given);

// What the run keeps between epochs and writes into checkpoints.
struct RunState {
  std::vector<EpochRecord> history;
  double best_value = 0;
  int best_epoch = 0;
  std::vector<BadFileRecord> bad_files;
};
// OUT/history.csv from state.history, atomically; the one writer of that file.
void write_history(const std::string& out, const RunState& state);

// What this process does in the run, decided once. Solo: no mpiexec. Under mpiexec, Root: rank 0,
// which trains (or leads --distributed-train) and alone writes the run folder; FeatureHelper: a
// rank > 0 that computes its share of the features and leaves; Follower: a rank > 0 of
// --distributed-train, which walks rank 0's epochs and stages with its own rows of each batch.
enum class RankRole { Solo, Root, FeatureHelper, Follower };
RankRole rank_role(const TrainOptions& opt);
inline bool writes_run_folder(RankRole r) { return r == RankRole::Solo || r == RankRole::Root; }
inline bool distributed_training(RankRole r, const TrainOptions& opt) {
  return r == RankRole::Follower || (r == RankRole::Root && opt.distributed_train);
}

// One stage of training: epochs [first_epoch, last_epoch] at learning rate lr. number 0: a
// one-stage run (history.csv has no stage column); 1 and 2: the head alone, then with the
// convolutions from --trainable-from unfrozen, from the best weights, with a fresh optimizer.
struct StagePlan {
  int number = 0;
  int first_epoch = 1;
  int last_epoch = 0;
  double lr = 0;
};
// The stages a run walks: every stage of a new run; a resumed one from the stage it stopped in
// (`resumed_stage`, `resumed_epoch`: the checkpoint's stage and next epoch). `restore`: whether the
// checkpoint's optimizer state and position belong to the first stage walked (a run stopped
// after the last head-only epoch begins stage 2 afresh, from the best weights).
struct StagesPlan {
  std::vector<StagePlan> stages;
  bool restore = false;
};
StagesPlan plan_stages(int epochs, int fine_tune_epochs, double lr, double fine_tune_lr, bool resuming,
                       int resumed_stage = 1, int resumed_epoch = 1);

// The base weights: the file (or "none": a random base), and its SHA-256 (or the random base's
// id), computed in the background unless a check needs it at once.
struct BaseWeights {
  std::string path;
  bool random = false;
  std::shared_future<std::string> sha256;
};
BaseWeights prepare_base(const TrainOptions& opt, const ResumedRun* resumed);

// The run folder (--out, else runs/<timestamp>), created on rank 0; refused when it already
// holds a run that is not being resumed.
// With `lock`, the folder is also locked for this process (lock_run_folder) unless *lock already
// holds it, before the check for another run.
std::string prepare_run_folder(const TrainOptions& opt, bool resuming, std::unique_ptr<FolderLock>* lock = nullptr);
// One writer per run folder (io/folder_lock.h): Error naming the process that holds it; a stale
// lock (its process gone) is taken over with a note.
std::unique_ptr<FolderLock> lock_run_folder(const std::string& out);

// The model of the run: the final spec (with the fine-tuned layers), the model as the first
// training stage starts (frozen base in a two-stage run), the first head layer, and the boundary:
// layers [0, boundary) stay frozen and the feature cache holds layer boundary - 1's output.
struct RunModel {
  ModelSpec spec;
  std::unique_ptr<Model> model;
  int first_head = 0;
  int boundary = 0;
  std::vector<std::string> fine_tuned;  // the conv layers from --trainable-from up
};
RunModel build_run_model(const TrainOptions& opt, int64_t classes, Device device, const BaseWeights& base,
                         bool resuming);

// The training and validation data after the scan: feature caches (the frozen part run once per
// image) or loaders running it every epoch (--feature-cache off, --augment), the images left after
// bad files, and the bad files found (in every split with --on-bad-file fail, which then throws).
struct TrainInputs {
  LoaderOptions loader;  // of the validation and test images (and training images unless augmented)
  AugmentSpec augment;
  bool cache = false;
  FeatureCache train_cache, valid_cache;
  std::unique_ptr<ImageLoader> train_loader, valid_loader;
  std::vector<DataItem> train_items, valid_items;
  std::vector<BadFileRecord> bad_files;
  TrainData data() const;
};
// --on-bad-file fail: decodes every image of every split (no convolution) and throws InputError
// naming the first bad one and the count, before the run writes anything. Rank 0 only.
void refuse_bad_files(const TrainOptions& opt, const RunSplits& splits, Device device);
// Where and under which key a split's features are kept across an interruption
// (apps/pipeline/kept_features.h; not under mpiexec). The key reads opt, base and rm.model when
// called: they must outlive its use.
KeepFeatures kept_features_of(const TrainOptions& opt, const RunSplits& splits, const RunModel& rm, Device device,
                              const BaseWeights& base, const std::string& out, const std::string& split);
TrainInputs scan_and_cache(const TrainOptions& opt, const RunSplits& splits, RunModel& rm, Device device,
                           const BaseWeights& base, const std::string& out, StageTimes* times,
                           const std::function<void(const std::string&)>& say);

// --optimizer at learning rate `lr`, over the model's trainable parameters as built now.
std::unique_ptr<Optimizer> make_optimizer(const TrainOptions& opt, Model& model, double lr);

// Checkpoints of the run: the model's trainable layers, the optimizer and the run state (options,
// history, position), snapshotted on the caller's thread and written atomically by a background
// writer. The last best snapshot is kept to restore the best weights without reading the file.
class RunCheckpointer {
 public:
  struct Run {
    const TrainOptions* options;
    std::vector<std::string> classes;
    std::string out;
    std::shared_future<std::string> base_sha256;
    std::string data_fingerprint;
    std::string run_id;
  };
  RunCheckpointer(Run run, const RunModel& rm, StageTimes* times);

  // Writes the frozen layers of the self-contained best.h5 now, while the features are made, so
  // that the end adds only the trained layers (rank 0 only).
  void stage_base();
  // OUT/name at `position` (the next epoch and batch to run) with `stage`; best.h5 is remembered.
  void save(const std::string& name, bool include_base, const EpochPosition& position, const RunState& state,
            const Optimizer& optimizer, int stage);
  // The best weights saved so far (by this process, or in best.h5 on disk).
  Checkpoint best();
  void wait() { writer_.wait(); }
  void check() { writer_.check(); }
  double busy_seconds() { return writer_.busy_seconds(); }
  int64_t superseded() { return writer_.superseded(); }

 private:
  Run run_;
  const RunModel& rm_;
  StageTimes* times_;
  CheckpointWriter writer_;
  std::optional<CheckpointModel> best_;
};

// How the training stages ended.
struct TrainOutcome {
  bool finished = true;
  EpochPosition stopped;  // where an interrupted run stopped
  int stage = 0;          // the last stage run (0: a one-stage run)
  std::unique_ptr<Optimizer> optimizer;  // the last stage's, whose state the final best.h5 keeps
};

// The epochs: one stage, or the head alone then the layers from --trainable-from unfrozen from
// the best weights with a fresh optimizer; each epoch saves last.h5 (best.h5 when the monitor
// improved) and history.csv. On rank > 0 of --distributed-train, follows rank 0's steps.
TrainOutcome run_stages(const TrainOptions& opt, RunModel& rm, TrainInputs& inputs, RunCheckpointer& checkpoints,
                        RunState* state, const std::optional<ResumedRun>& resumed, const std::string& out,
                        const std::function<void(const std::string&)>& say,
                        const std::function<void(const EpochRecord&)>& on_epoch_end = {});

// Everything the run folder gets at the end besides the checkpoints and the test predictions.
struct RunSummary {
  const TrainOptions* options;
  std::string out, command_line, data_root;
  Device device;
  BaseWeights base;
  const RunState* state;
  const TrainInputs* inputs;
  const ReportInput* report;
  StageTimes times;
  double checkpoint_busy_seconds = 0;
  int64_t checkpoints_superseded = 0;
};
void write_run_folder(const RunSummary& s);

// The monitored value of an epoch, and whether larger is better.
double monitored(const EpochRecord& r, Monitor monitor);
bool monitor_is_max(Monitor monitor);
// The history as stored in checkpoints, and back.
nlohmann::json history_to_json(const std::vector<EpochRecord>& h);
std::vector<EpochRecord> history_from_json(const nlohmann::json& a);

}  // namespace vggtl
