// The training run, stage by stage. Checkpoints during the run hold the head (and, when
// fine-tuning, the conv layers from --trainable-from up), the optimizer and the position
// (base_included = false): the frozen base never changes, so rewriting its 59 MB at every epoch
// would only cost time. At the end best.h5 is rewritten self-contained. Two-stage fine-tuning
// (--fine-tune-epochs) runs the head-only epochs, then unfreezes the layers and continues from the
// best weights with a fresh optimizer; the position records the stage, so either resumes.
#include "apps/pipeline/train_run.h"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <future>
#include <limits>
#include <optional>

#include <unistd.h>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/checkpoint_writer.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/cluster_features.h"
#include "apps/pipeline/evaluate.h"
#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/report.h"
#include "apps/pipeline/shards.h"
#include "apps/pipeline/splits.h"
#include "apps/pipeline/trainer.h"
#include "engine/allocator.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/atomic_file.h"
#include "io/sha256.h"
#include "vggtl/build_info.h"

namespace vggtl {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

std::string random_base_id(uint64_t seed) { return "random-he-uniform:seed=" + std::to_string(seed); }

bool monitor_is_max(const std::string& monitor) { return monitor.find("acc") != std::string::npos; }

double monitored(const EpochRecord& r, const std::string& monitor) {
  if (monitor == "val_loss") return r.val_loss;
  if (monitor == "val_accuracy") return r.val_accuracy;
  if (monitor == "loss") return r.loss;
  return r.accuracy;
}

json history_to_json(const std::vector<EpochRecord>& h) {
  json a = json::array();
  for (const EpochRecord& r : h)
    a.push_back({{"epoch", r.epoch}, {"stage", r.stage}, {"loss", r.loss}, {"accuracy", r.accuracy}, {"val_loss", r.val_loss},
                 {"val_accuracy", r.val_accuracy}, {"seconds", r.seconds}});
  return a;
}

std::vector<EpochRecord> history_from_json(const json& a) {
  std::vector<EpochRecord> h;
  for (const json& r : a)
    h.push_back(EpochRecord{r.at("epoch").get<int>(), r.at("loss").get<double>(), r.at("accuracy").get<double>(),
                            r.at("val_loss").get<double>(), r.at("val_accuracy").get<double>(),
                            r.at("seconds").get<double>(), r.value("stage", 0)});
  return h;
}

// Items of `items` whose index is not in `bad` (bad indices refer to the same vector).
std::vector<DataItem> without_bad(const std::vector<DataItem>& items, const std::vector<BadFile>& bad) {
  std::vector<uint8_t> drop(items.size(), 0);
  for (const BadFile& b : bad)
    if (b.index >= 0 && static_cast<size_t>(b.index) < items.size()) drop[static_cast<size_t>(b.index)] = 1;
  std::vector<DataItem> out;
  for (size_t i = 0; i < items.size(); ++i)
    if (!drop[i]) out.push_back(items[i]);
  return out;
}

std::string epoch_line(const EpochRecord& r, int epochs, bool improved, const std::string& monitor) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "Epoch %d/%d%s  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.2fs%s", r.epoch,
                epochs, r.stage ? (" (stage " + std::to_string(r.stage) + ")").c_str() : "", r.loss, r.accuracy, r.val_loss,
                r.val_accuracy, r.seconds,
                improved ? ("  (" + monitor + " improved, best.h5 saved)").c_str() : "");
  return buf;
}

// Everything a run keeps in memory between epochs and writes into checkpoints.
struct RunState {
  std::vector<EpochRecord> history;
  double best_value = 0;
  int best_epoch = 0;
  std::vector<BadFileRecord> bad_files;
};

std::string megabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// What the feature cache may hold in memory: --feature-cache-memory GB, else half the machine's
// RAM (CPU) or half the GPU's memory.
int64_t cache_memory_budget(double gigabytes, Device device) {
  if (gigabytes > 0) return static_cast<int64_t>(gigabytes * 1e9);
  if (device.is_cuda()) {
    for (const CudaDeviceInfo& d : cuda_runtime_info().devices)
      if (d.index == device.index) return static_cast<int64_t>(d.total_memory / 2);
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 2 : int64_t{4} << 30;
}

}  // namespace

int run_training(TrainOptions opt, const std::set<std::string>& given, const std::string& command_line) {
  Stopwatch total_clock;
  StageTimes times;
  if (opt.quiet) set_log_level(LogLevel::Warning);
  auto say = [&](const std::string& s) {
    if (!opt.quiet) std::printf("%s\n", s.c_str());
  };

  // --resume: the run's own options, history and position come from its last.h5.
  std::optional<Checkpoint> resumed;
  json resumed_state;
  if (opt.resume) {
    if (opt.out.empty()) throw InputError("--resume needs --out DIR: the folder of the run to continue");
    const std::string last = opt.out + "/last.h5";
    if (!fs::exists(last)) throw InputError(last + ": not found, nothing to resume");
    resumed = read_checkpoint(last);
    if (!resumed->meta) throw InputError(last + ": not a vggtl checkpoint");
    json stored;
    try {
      stored = json::parse(resumed->meta->run_config_json);
      resumed_state = json::parse(resumed->meta->history_json);
      resumed_state.at("history");
      resumed_state.at("position");
    } catch (const json::exception& e) {
      throw InputError(last + ": damaged run state in vggtl/ (" + e.what() + ")");
    }
    const json now = opt.to_json();
    for (const std::string& key : TrainOptions::resumable_keys())
      if (given.count(key) && stored.contains(key) && stored[key] != now[key])
        throw InputError("--" + key + " " + now[key].dump() + " differs from the run being resumed (" +
                         stored[key].dump() + "); start a new run with another --out to change it");
    const int epochs = opt.epochs;
    opt.from_json(stored);
    if (given.count("epochs") && epochs != opt.epochs && opt.fine_tune_epochs > 0)
      throw InputError("--epochs " + std::to_string(epochs) + " differs from the run being resumed (" +
                       std::to_string(opt.epochs) + "), whose second stage starts after them; start a new run");
    if (given.count("epochs")) opt.epochs = epochs;
  }
  opt.validate();
  const std::vector<std::string> fine_tuned = convs_from(opt.trainable_from);
  const bool two_stage = opt.fine_tune_epochs > 0;
  const int total_epochs = opt.epochs + opt.fine_tune_epochs;
  if (cluster::active() && (!fine_tuned.empty() || opt.feature_cache_dtype != "fp32"))
    throw InputError("--trainable-from and --feature-cache-dtype fp16 are not available under mpiexec yet");

  // Data: every split listed before any work.
  Stopwatch clock;
  const RunSplits splits = list_splits_on_root(resolve_splits(opt.data, opt.train, opt.valid, opt.test));
  times.listing = clock.seconds();
  const std::vector<std::string>& classes = splits.train.classes;
  if (classes.size() < 2)
    throw InputError(splits.train.root + ": " + std::to_string(classes.size()) +
                     " class folder; a classifier needs at least two (one sub-folder per class)");
  const std::string fingerprint = data_fingerprint(splits);
  if (resumed && resumed->meta->data_fingerprint != fingerprint)
    throw InputError("the data changed since the run in " + opt.out + " started (files added, removed, renamed or " +
                     "resized); start a new run");

  // Base weights: found, hashed, checked.
  const std::string weights = opt.weights.empty() ? default_weights_path() : opt.weights;
  const bool random_base = weights == "none";
  clock.reset();
  if (!random_base && !fs::exists(weights)) {
    std::string msg = weights + ": weights file not found";
    if (opt.weights.empty())
      msg += " (Keras keeps the VGG16 weights there after `keras.applications.VGG16(weights='imagenet', "
             "include_top=False)`; or pass --weights FILE, or --weights none to try vggtl with a random base)";
    throw InputError(msg);
  }
  // The base weights' hash goes into every checkpoint. Hashing 59 MB takes a noticeable part of
  // a GPU run, so it runs alongside the feature cache unless a check needs it now.
  const uint64_t seed = opt.seed;
  std::shared_future<std::string> base_hash =
      std::async(std::launch::async, [random_base, weights, seed] {
        return random_base ? random_base_id(seed) : sha256_file(weights);
      }).share();
  if (!opt.weights_sha256.empty() && base_hash.get() != opt.weights_sha256)
    throw InputError(weights + ": SHA-256 is " + base_hash.get() + ", not the expected " + opt.weights_sha256);
  if (resumed && resumed->meta->base_weights_sha256 != base_hash.get())
    throw InputError(weights + ": not the base weights the run in " + opt.out + " started with");

  // Run folder.
  const std::string out = opt.out.empty() ? "runs/" + timestamp() : opt.out;
  if (cluster::is_root()) {  // under mpiexec the run folder is rank 0's alone
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out)) throw InputError(out + ": cannot be the run folder (" + (ec ? ec.message() : "not a folder") + ")");
  }
  if (!resumed && fs::exists(out + "/last.h5"))
    throw InputError(out + ": already holds a run (last.h5); add --resume to continue it or choose another --out");

  // Device and precision, once the inputs are known to be usable.
  std::string device_note;
  const Device device = device_for_rank(select_device(opt.device, &device_note));
  if (!device_note.empty()) log_info(device_note);
  const Precision precision = parse_precision(opt.precision);
  if (device.is_cpu() && precision != Precision::FP32 && given.count("precision"))
    log_info("--precision " + opt.precision + " applies to the GPU; the CPU runs fp32");

  // Model.
  ModelSpec spec;
  spec.image_size = opt.image_size;
  spec.precision = device.is_cpu() ? Precision::FP32 : precision;
  spec.head = HeadConfig{opt.hidden, static_cast<float>(opt.dropout), static_cast<int64_t>(classes.size())};
  spec.trainable_base = fine_tuned;
  ModelSpec first_stage_spec = spec;  // two stages: the base starts frozen
  if (two_stage) first_stage_spec.trainable_base.clear();
  std::unique_ptr<Model> model = build_model(first_stage_spec, device);
  const int first_head = head_start(*model);
  // Layers [0, boundary) stay frozen: the feature cache holds the output of layer boundary - 1.
  const int boundary = fine_tuned.empty() ? first_head : model->index_of(fine_tuned.front());
  model->initialize(opt.seed, random_base ? 0 : first_head);
  if (random_base) {
    log_warning("--weights none: the VGG16 base has RANDOM weights (He-uniform, seed " + std::to_string(opt.seed) +
                "); accuracy will be far below what ImageNet weights give");
  } else {
    for (const std::string& n : load_base_weights(*model, weights)) log_info(n);
  }
  times.weights = clock.seconds();
  if (!opt.init.empty() && !resumed) {
    // Only the head: the frozen base always comes from --weights, whose hash the checkpoints
    // record, so that --resume and a head-only best.h5 rebuild the same model.
    Checkpoint init = read_checkpoint(opt.init);
    bool had_base = false;
    for (CheckpointLayer& l : init.model.layers) {
      const int i = model->index_of(l.name);
      if (i >= 0 && i < boundary && !l.weights.empty()) {
        l.weights.clear();
        had_base = true;
      }
    }
    if (had_base) log_info("--init " + opt.init + ": the head's weights are used; the base comes from --weights");
    load_checkpoint_weights(*model, init, false);
  }
  if (!opt.quiet) std::printf("%s", model->summary().c_str());
  say("Data: " + std::to_string(splits.train.items.size()) + " train, " + std::to_string(splits.valid.items.size()) +
      " valid" + (splits.test ? ", " + std::to_string(splits.test->items.size()) + " test" : std::string()) +
      " images; classes: " + [&] {
        std::string s;
        for (const std::string& c : classes) s += (s.empty() ? "" : ", ") + c;
        return s;
      }());
  say("Device: " + device.str() + (device.is_cuda() ? " (" + opt.precision + ")" : std::string()) +
      "; out: " + out);

  // Checkpoints are written by a background thread. The self-contained best.h5 of the end holds
  // the frozen base (59 MB): its base is written and synced now, while the features are made,
  // so that the end adds only the head (the disk sync of the whole file cost ~0.6 s on a GPU
  // machine where the rest of the job took ~1.2 s).
  CheckpointWriter writer;
  {
    CheckpointModel full = checkpoint_model(*model, spec, true);
    CheckpointModel base;
    for (CheckpointLayer& l : full.layers) {
      const int i = model->index_of(l.name);
      if (i >= 0 && i < boundary && !l.weights.empty()) base.layers.push_back(std::move(l));
    }
    CheckpointMeta none;
    snapshot_to_host(&base, &none);
    if (cluster::is_root()) writer.stage(out + "/best.h5", std::move(base.layers));
  }

  // Images -> features (or a scan for bad files when the base runs every epoch).
  const LoaderOptions lo = loader_options(opt.image_size, opt.interpolation, opt.preprocessing,
                                          opt.batch_size, opt.workers, opt.decode, device);
  // Augmented training images change every epoch: the base runs on every training batch, and the
  // training loader keeps raw RGB rows for the augmentation, which applies the preprocessing.
  const AugmentSpec augment = parse_augment_spec(opt.augment);
  const bool cache = opt.feature_cache == "auto" && !augment.any();
  if (augment.any())
    log_info("Augmentation: " + augment.str() + "; the images change every epoch, so the frozen base runs on " +
             "every batch (no feature cache" + (opt.feature_cache_dtype != "fp32" || opt.feature_cache_memory > 0
                                                    ? "; --feature-cache-dtype and --feature-cache-memory unused"
                                                    : "") +
             ")");
  LoaderOptions train_lo = lo;
  if (augment.any()) {
    train_lo.transform = PixelTransform::None;
    train_lo.dtype = DType::F32;
  }
  RunState state;
  std::vector<BadFile> bad_train, bad_valid;
  FeatureCache train_cache, valid_cache;
  std::unique_ptr<ImageLoader> train_loader, valid_loader;
  {
    ImageLoader tl(splits.train.items, lo), vl(splits.valid.items, lo);
    log_info("Decoding: " + tl.decoder() + ", " + std::to_string(tl.workers()) + " worker threads");
    if (cache) {
      // Where each split's cache goes: memory while the budget lasts, then a file in the run folder.
      const Shape row = model->output_shape(boundary - 1);
      CacheStorage train_store, valid_store;
      train_store.dtype = valid_store.dtype = opt.feature_cache_dtype == "fp16" ? DType::F16 : DType::F32;
      const int64_t budget = cache_memory_budget(opt.feature_cache_memory, device);
      const int64_t train_bytes = feature_cache_bytes(row, static_cast<int64_t>(tl.size()), train_store.dtype);
      const int64_t valid_bytes = feature_cache_bytes(row, static_cast<int64_t>(vl.size()), valid_store.dtype);
      if (!cluster::active()) {
        if (train_bytes > budget) train_store.spill_file = out + "/feature_cache_train.bin";
        if ((train_store.spill_file.empty() ? train_bytes : 0) + valid_bytes > budget)
          valid_store.spill_file = out + "/feature_cache_valid.bin";
      }
      auto where = [&](const CacheStorage& s) {
        return s.spill_file.empty() ? std::string("in memory") : "in " + s.spill_file;
      };
      say("Feature cache: " + model->layer(boundary - 1).name() + " output " + row.str() + " " +
          opt.feature_cache_dtype + "; train " + megabytes(train_bytes) + " " + where(train_store) + ", valid " +
          megabytes(valid_bytes) + " " + where(valid_store) + " (memory budget " + megabytes(budget) + ")");
      train_cache = cache_features_on_ranks(*model, boundary, tl, &times, "features train", opt.distributed_train,
                                            train_store);
      valid_cache = cache_features_on_ranks(*model, boundary, vl, &times, "features valid", opt.distributed_train,
                                            valid_store);
      bad_train = train_cache.bad;
      bad_valid = valid_cache.bad;
    } else {
      bad_train = tl.scan();
      bad_valid = vl.scan();
    }
  }
  // Under mpiexec the other ranks only help with the features, unless they train too.
  if (!cluster::is_root() && !(opt.distributed_train && cluster::active())) return 0;
  report_bad_files(bad_train, &state.bad_files);
  report_bad_files(bad_valid, &state.bad_files);
  if (opt.on_bad_file == "fail" && splits.test) {  // every split is checked before training
    ImageLoader test_scan(splits.test->items, lo);
    report_bad_files(test_scan.scan(), &state.bad_files);
  }
  if (!state.bad_files.empty() && opt.on_bad_file == "fail")
    throw InputError(state.bad_files[0].path + ": " + state.bad_files[0].reason + " (" +
                     std::to_string(state.bad_files.size()) + " bad file" + (state.bad_files.size() > 1 ? "s" : "") +
                     "; --on-bad-file skip trains without them)");
  const std::vector<DataItem> train_items = without_bad(splits.train.items, bad_train);
  const std::vector<DataItem> valid_items = without_bad(splits.valid.items, bad_valid);
  if (train_items.empty()) throw InputError(splits.train.root + ": no training image could be decoded");
  if (valid_items.empty()) throw InputError(splits.valid.root + ": no validation image could be decoded");
  if (!cache) {
    train_loader = std::make_unique<ImageLoader>(train_items, train_lo);
    valid_loader = std::make_unique<ImageLoader>(valid_items, lo);
  }

  // Optimizer (one per stage: a fresh one after unfreezing, as Keras's recompile) and, on
  // --resume, the state where the run stopped.
  std::unique_ptr<Optimizer> optimizer;
  auto make_optimizer = [&](double lr) {
    if (opt.optimizer == "sgd")
      optimizer = std::make_unique<Sgd>(model->param_arena(), model->grad_arena(), SgdConfig{lr, opt.momentum, false});
    else
      optimizer = std::make_unique<Adam>(model->param_arena(), model->grad_arena(), AdamConfig{lr, 0.9, 0.999, 1e-7});
  };
  const bool maximize = monitor_is_max(opt.monitor);
  state.best_value = maximize ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  EpochPosition start;
  int resumed_stage = 1;
  if (resumed) {
    const CheckpointMeta& m = *resumed->meta;
    load_checkpoint_weights(*model, *resumed, false);
    try {
      state.history = history_from_json(resumed_state.at("history"));
      const json& p = resumed_state.at("position");
      start.epoch = p.at("epoch").get<int>();
      start.batches_done = p.at("batches_done").get<int64_t>();
      start.partial =
          XentSums{p.at("loss_sum").get<double>(), p.at("correct").get<double>(), p.at("count").get<int64_t>()};
      start.seconds = p.at("seconds").get<double>();
      resumed_stage = p.value("stage", 1);
    } catch (const json::exception& e) {
      throw InputError(resumed->path + ": damaged run state in vggtl/ (" + e.what() + ")");
    }
    state.best_value = m.best_value;
    state.best_epoch = static_cast<int>(m.best_epoch);
    say("Resuming at epoch " + std::to_string(start.epoch) + ", batch " + std::to_string(start.batches_done) +
        (two_stage ? " of stage " + std::to_string(resumed_stage) : std::string()) + " (" +
        std::to_string(m.optimizer_step) + " optimizer steps done)");
  }

  // The stages: one, or the head alone then the layers from --trainable-from unfrozen.
  struct StagePlan {
    int number;      // 0: a one-stage run (no stage column)
    int last_epoch;
    double lr;
  };
  std::vector<StagePlan> stages;
  if (two_stage) stages = {{1, opt.epochs, opt.lr}, {2, total_epochs, opt.fine_tune_lr}};
  else stages = {{0, opt.epochs, opt.lr}};
  size_t first_stage = 0;
  if (resumed && two_stage && (resumed_stage == 2 || start.epoch > opt.epochs)) first_stage = 1;
  // Whether the checkpoint's optimizer state and position belong to the first stage run now (a run
  // stopped after the last head-only epoch begins the second stage afresh).
  bool restore_position = resumed && (resumed_stage == 2 || first_stage == 0);
  int current_stage = stages[first_stage].number;

  // Checkpoints are snapshotted here and written by the background writer (atomic files all the
  // same); the last best snapshot also serves to restore the best weights at the end.
  std::optional<CheckpointModel> best_snapshot;
  auto save = [&](const std::string& name, bool include_base, const EpochPosition& pos) {
    Stopwatch w;
    CheckpointMeta m;
    m.vggtl_version = VGGTL_VERSION;
    m.class_names = classes;
    m.image_height = m.image_width = opt.image_size;
    m.interpolation = opt.interpolation;
    m.preprocessing = opt.preprocessing;
    m.epoch = pos.epoch - 1;
    m.optimizer = opt.optimizer;
    m.optimizer_step = optimizer->iterations();
    m.optimizer_state = optimizer_state(*model, *optimizer);
    m.rng_seed = opt.seed;
    m.rng_counters = {{"epoch", pos.epoch}, {"batches_done", pos.batches_done}};
    m.monitor = opt.monitor;
    m.monitor_mode = maximize ? "max" : "min";
    m.best_value = state.best_value;
    m.best_epoch = state.best_epoch;
    m.base_weights_sha256 = base_hash.get();
    m.data_fingerprint = fingerprint;
    m.base_included = include_base;
    json h;
    h["history"] = history_to_json(state.history);
    h["position"] = {{"epoch", pos.epoch}, {"batches_done", pos.batches_done}, {"loss_sum", pos.partial.loss_sum},
                     {"correct", pos.partial.correct}, {"count", pos.partial.count}, {"seconds", pos.seconds},
                     {"stage", std::max(current_stage, 1)}};
    m.history_json = h.dump();
    json cfg = opt.to_json();
    cfg["epochs"] = opt.epochs;
    m.run_config_json = cfg.dump();
    CheckpointModel cm = checkpoint_model(*model, spec, include_base, boundary);
    snapshot_to_host(&cm, &m);
    writer.submit(out + "/" + name, cm, std::move(m));
    times.checkpoints += w.seconds();
    return cm;
  };

  // Training. Fault injection for tests, after N optimizer steps of this process (all stages):
  // VGGTL_INTERRUPT_AFTER_STEPS=N acts as a Ctrl-C, VGGTL_KILL_AFTER_STEPS=N as a SIGKILL (whatever
  // the checkpoint writer is doing at that moment).
  install_interrupt_handler();
  auto steps_from_env = [](const char* name) -> int64_t {
    const char* v = std::getenv(name);
    return v && *v ? std::atoll(v) : -1;
  };
  const int64_t interrupt_after = steps_from_env("VGGTL_INTERRUPT_AFTER_STEPS");
  const int64_t kill_after = steps_from_env("VGGTL_KILL_AFTER_STEPS");
  int64_t earlier_stage_steps = 0;  // optimizer steps of the stages this process finished
  int64_t steps_at_stage_start = 0;
  auto interrupted = [&] {
    const int64_t steps = earlier_stage_steps + optimizer->iterations() - steps_at_stage_start;
    if (kill_after >= 0 && steps >= kill_after) std::raise(SIGKILL);
    return interrupt_requested() || (interrupt_after >= 0 && steps >= interrupt_after);
  };
  std::unique_ptr<ProgressBar> bar;
  clock.reset();
  const double checkpoints_before = times.checkpoints;
  EpochPosition stopped;
  bool finished = true;
  bool unfrozen = !two_stage;
  for (size_t si = first_stage; si < stages.size() && finished; ++si) {
    const StagePlan& plan = stages[si];
    current_stage = plan.number;
    if (!unfrozen && plan.number == 2) {
      for (const std::string& name : fine_tuned) model->layer(model->index_of(name)).set_frozen(false);
      model->build(model->input_shape());  // the weights keep their values; the arenas move
      unfrozen = true;
    }
    EpochPosition stage_start{si == 0 ? 1 : opt.epochs + 1, 0, {}, 0};
    if (!restore_position && plan.number == 2 && state.best_epoch > 0) {
      // Stage 2 continues from the best weights so far (the head of the best stage-1 epoch).
      Checkpoint best;
      if (best_snapshot) {
        best.path = out + "/best.h5";
        best.model = *best_snapshot;
      } else {
        writer.wait();
        best = read_checkpoint(out + "/best.h5");
      }
      load_checkpoint_weights(*model, best, false);
    }
    make_optimizer(plan.lr);
    if (restore_position) {
      const CheckpointMeta& m = *resumed->meta;
      restore_optimizer_state(*model, *optimizer, m.optimizer_state, m.optimizer_step, resumed->path);
      stage_start = start;
      restore_position = false;
    }
    steps_at_stage_start = optimizer->iterations();
    if (plan.number == 2 && stage_start.batches_done == 0 && stage_start.epoch == opt.epochs + 1)
      say("Stage 2: " + std::to_string(fine_tuned.size()) + " conv layers from " + opt.trainable_from +
          " unfrozen, from the best epoch (" + std::to_string(state.best_epoch) + "), lr " + json(plan.lr).dump());
    HeadTrainer trainer(*model, boundary, *optimizer,
                        TrainConfig{plan.last_epoch, opt.batch_size, opt.steps_per_epoch, opt.validation_steps,
                                    opt.seed, opt.shuffle == "on", opt.distributed_train && cluster::active(),
                                    augment, lo.transform},
                        cache ? TrainData{&train_cache, &valid_cache, nullptr, nullptr}
                              : TrainData{nullptr, nullptr, train_loader.get(), valid_loader.get()});
    if (opt.distributed_train && cluster::active()) {
      synchronise_batch_norms(*model);
      if (!cluster::is_root()) return follow_training(trainer, stage_start, interrupted);
    }
    finished = trainer.run(
        stage_start,
        [&](EpochRecord r) {
          if (bar) bar->clear();
          r.stage = plan.number;
          state.history.push_back(r);
          const double v = monitored(r, opt.monitor);
          const bool improved = std::isfinite(v) && (maximize ? v > state.best_value : v < state.best_value);
          if (improved) {
            state.best_value = v;
            state.best_epoch = r.epoch;
            best_snapshot = save("best.h5", false, EpochPosition{r.epoch + 1, 0, {}, 0});
          }
          save("last.h5", false, EpochPosition{r.epoch + 1, 0, {}, 0});
          write_text_atomically(out + "/history.csv", history_csv(state.history));
          say(epoch_line(r, total_epochs, improved, opt.monitor));
        },
        interrupted, &stopped,
        [&](int64_t done, int64_t total) {
          if (!bar) bar = std::make_unique<ProgressBar>("train", total, !opt.quiet && ProgressBar::stdout_is_terminal());
          bar->update(done);
          if (done == total) bar.reset();
        });
    earlier_stage_steps += optimizer->iterations() - steps_at_stage_start;
    steps_at_stage_start = optimizer->iterations();
  }
  bar.reset();
  times.head_training = clock.seconds() - (times.checkpoints - checkpoints_before);
  if (finished) {
    // From here on Ctrl-C stops the run at once; one that came during the last batch does so
    // now, once the epoch's checkpoints are on disk.
    if (interrupt_requested()) writer.wait();
    remove_interrupt_handler();
  }
  if (!finished) {
    save("last.h5", false, stopped);
    writer.wait();
    write_text_atomically(out + "/history.csv", history_csv(state.history));
    throw Error("interrupted at epoch " + std::to_string(stopped.epoch) + ", batch " +
                    std::to_string(stopped.batches_done) + "; " + out + "/last.h5 saved: continue with --resume --out " +
                    out,
                ErrorKind::Interrupted);
  }
  // The best epoch's weights, written self-contained while the test split is evaluated.
  if (state.best_epoch > 0) {
    Checkpoint best;
    if (best_snapshot) {
      best.path = out + "/best.h5";
      best.model = *best_snapshot;
    } else {  // resumed after the last improvement: best.h5 on disk holds it
      writer.wait();
      best = read_checkpoint(out + "/best.h5");
    }
    load_checkpoint_weights(*model, best, false);
    save("best.h5", true, EpochPosition{state.best_epoch + 1, 0, {}, 0});
  } else {
    log_warning("no epoch improved " + opt.monitor + " (not finite?); best.h5 holds the last weights");
    save("best.h5", true, EpochPosition{total_epochs + 1, 0, {}, 0});
  }
  ReportInput report;
  if (splits.test) {
    clock.reset();
    ImageLoader test_loader(splits.test->items, lo);
    SplitPredictions p = predict_split(*model, first_head, test_loader, true, &times, "test");
    times.evaluation = clock.seconds();
    report_bad_files(p.bad, &state.bad_files);
    report.test = summarize(p.predictions, classes);
    report.predictions = std::move(p.predictions);
    report.has_test = true;
    write_eval_files(out, report.test, report.predictions, classes);
    char line[128];
    std::snprintf(line, sizeof line, "Test accuracy: %.4f (%lld/%lld)", report.test.accuracy,
                  static_cast<long long>(report.test.correct), static_cast<long long>(report.test.total));
    std::printf("%s\n", line);
  }
  clock.reset();
  writer.wait();
  times.checkpoints += clock.seconds();
  times.total = total_clock.seconds();

  // Run folder.
  write_text_atomically(out + "/history.csv", history_csv(state.history));
  write_text_atomically(out + "/bad_files.csv", bad_files_csv(state.bad_files));
  json metrics;
  if (report.has_test)
    metrics["test"] = {{"accuracy", report.test.accuracy}, {"loss", report.test.loss},
                       {"correct", report.test.correct}, {"total", report.test.total},
                       {"macro_f1", report.test.macro_f1}};
  metrics["best_epoch"] = state.best_epoch;
  metrics["monitor"] = {{"name", opt.monitor}, {"best", state.best_value}};
  metrics["epochs"] = total_epochs;
  metrics["trainable_from"] = opt.trainable_from;
  metrics["images"] = {{"train", train_items.size()}, {"valid", valid_items.size()},
                       {"test", report.has_test ? report.test.total : 0}, {"bad", state.bad_files.size()}};
  metrics["seconds"] = {{"weights_load", times.weights},     {"listing", times.listing},
                        {"decode_wait", times.decode},       {"base_forward", times.base_forward},
                        {"head_training", times.head_training}, {"checkpoint_writes", times.checkpoints},
                        {"checkpoint_writes_background", writer.busy_seconds()},
                        {"evaluation", times.evaluation},    {"total", times.total}};
  metrics["checkpoint_writes_superseded"] = writer.superseded();
  metrics["peak_gpu_memory_bytes"] =
      device.is_cuda() ? static_cast<int64_t>(cuda_allocator(device.index).stats().peak_bytes_reserved) : 0;
  metrics["device"] = device.str();
  metrics["precision"] = device.is_cuda() ? opt.precision : "fp32";
  metrics["feature_cache"] = cache;
  metrics["seed"] = opt.seed;
  metrics["base_weights"] = {{"file", random_base ? "none" : weights}, {"sha256", base_hash.get()}};
  metrics["versions"] = full_version_report();
  metrics["command_line"] = command_line;
  metrics["options"] = opt.to_json();
  write_text_atomically(out + "/metrics.json", metrics.dump(2) + "\n");

  report.title = "vggtl run " + fs::path(out).filename().string();
  report.history = state.history;
  report.monitor = opt.monitor;
  report.best_epoch = state.best_epoch;
  report.class_names = classes;
  report.bad_files = state.bad_files;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", times.total);
  report.facts = {{"data", opt.data.empty() ? splits.train.root : opt.data},
                  {"images", std::to_string(train_items.size()) + " train, " + std::to_string(valid_items.size()) +
                                 " valid" + (report.has_test ? ", " + std::to_string(report.test.total) + " test" : "")},
                  {"device", device.str() + (device.is_cuda() ? " (" + opt.precision + ")" : "")},
                  {"base weights", random_base ? "random (--weights none)" : weights},
                  {"optimizer", opt.optimizer + ", lr " + json(opt.lr).dump() + ", batch " + std::to_string(opt.batch_size)},
                  {"time", secs},
                  {"command", command_line}};
  write_text_atomically(out + "/report.html", report_html(report));
  say("Run folder: " + out + " (best epoch " + std::to_string(state.best_epoch) + ", " + secs + ")");
  return 0;
}

}  // namespace vggtl
