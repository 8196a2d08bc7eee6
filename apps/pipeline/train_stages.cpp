// The stages of the training run (see train_stages.h). Checkpoints during the run hold the head
// (and, when fine-tuning, the conv layers from --trainable-from up), the optimizer and the
// position (base_included = false): the frozen base never changes, so rewriting its 59 MB at
// every epoch would only cost time. At the end best.h5 is rewritten self-contained.
#include "apps/pipeline/train_stages.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <limits>
#include <set>

#include <sys/statvfs.h>
#include <unistd.h>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/cluster_features.h"
#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/kept_features.h"
#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/shards.h"
#include "engine/allocator.h"
#include "engine/context.h"
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
                epochs, r.stage ? (" (stage " + std::to_string(r.stage) + ")").c_str() : "", r.loss, r.accuracy,
                r.val_loss, r.val_accuracy, r.seconds,
                improved ? ("  (" + monitor + " improved, best.h5 saved)").c_str() : "");
  return buf;
}

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

// Before any feature is computed: a memory budget that cannot hold one batch, or spill files
// that the run folder's file system has no room for, end the run with what to change instead of
// failing mid-way.
void check_cache_resources(const TrainOptions& opt, const std::string& out, const Shape& row, int64_t batch_rows,
                           int64_t budget, int64_t spill_bytes_train, int64_t spill_bytes_valid) {
  const int64_t batch_bytes = feature_cache_bytes(row, batch_rows, opt.feature_cache_dtype);
  if (spill_bytes_train + spill_bytes_valid > 0 && budget < batch_bytes) {
    char gb[32];
    std::snprintf(gb, sizeof gb, "%.3g", static_cast<double>(batch_bytes) / 1e9);
    throw InputError("--feature-cache-memory " + json(opt.feature_cache_memory).dump() + " GB (" + megabytes(budget) +
                     ") cannot hold one batch of features (" + std::to_string(batch_rows) + " rows of " +
                     row.str() + ", " + megabytes(batch_bytes) + "); give at least " + gb + " GB");
  }
  const int64_t spill = spill_bytes_train + spill_bytes_valid;
  struct statvfs fs_info {};
  if (spill > 0 && ::statvfs(out.c_str(), &fs_info) == 0) {
    const int64_t free_bytes = static_cast<int64_t>(fs_info.f_bavail) * static_cast<int64_t>(fs_info.f_frsize);
    if (free_bytes < spill)
      throw Error(out + ": the feature cache needs " + megabytes(spill) + " on disk beyond --feature-cache-memory (" +
                  megabytes(budget) + "), and its file system has " + megabytes(free_bytes) +
                  " free; free some space, raise --feature-cache-memory or choose another --out");
  }
}

}  // namespace

bool monitor_is_max(Monitor monitor) { return monitor == Monitor::ValAccuracy || monitor == Monitor::Accuracy; }

double monitored(const EpochRecord& r, Monitor monitor) {
  switch (monitor) {
    case Monitor::ValLoss: return r.val_loss;
    case Monitor::ValAccuracy: return r.val_accuracy;
    case Monitor::Loss: return r.loss;
    case Monitor::Accuracy: return r.accuracy;
  }
  return r.val_loss;
}

json history_to_json(const std::vector<EpochRecord>& h) {
  json a = json::array();
  for (const EpochRecord& r : h)
    a.push_back({{"epoch", r.epoch}, {"stage", r.stage}, {"loss", r.loss}, {"accuracy", r.accuracy},
                 {"val_loss", r.val_loss}, {"val_accuracy", r.val_accuracy}, {"seconds", r.seconds}});
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

// ---- Resume ----

std::string new_run_id() {
  std::random_device rd;
  const uint64_t a = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  const uint64_t b = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                     (static_cast<uint64_t>(::getpid()) << 40);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

namespace {

// What to do when the run's state on disk cannot be trusted.
const char* kStartAgain = "restore the run folder from a copy, or start a new run with another --out";

// The data lines of history.csv must agree with the checkpoint's history where both have a row:
// one may be ahead of the other (history.csv is written after last.h5 is queued, and a full disk
// may stop either), but a row that differs was edited, or belongs to another run.
void check_history_csv(const std::string& out, const std::vector<EpochRecord>& history) {
  const std::string path = out + "/history.csv";
  std::ifstream in(path);
  if (!in) return;  // rewritten from last.h5
  std::vector<std::string> file_rows, rows;
  std::string line;
  for (std::getline(in, line); std::getline(in, line);)
    if (!line.empty()) file_rows.push_back(line);
  std::istringstream expected(history_csv(history));
  for (std::getline(expected, line); std::getline(expected, line);) rows.push_back(line);
  for (size_t i = 0; i < std::min(rows.size(), file_rows.size()); ++i)
    if (rows[i] != file_rows[i])
      throw InputError(path + ": row " + std::to_string(i + 1) + " (\"" + file_rows[i] +
                       "\") differs from the history in " + out + "/last.h5 (\"" + rows[i] +
                       "\"): edited, or from another run; --resume continues only when they agree: " +
                       "restore history.csv, delete it to have it rewritten from last.h5, or start a new run");
}

std::string run_id_of(const Checkpoint& c) {
  if (!c.meta) return "";
  try {
    return json::parse(c.meta->history_json).value("run_id", std::string());
  } catch (const json::exception&) {
    return "";
  }
}

}  // namespace

std::optional<ResumedRun> resume_run(TrainOptions* opt, const std::set<std::string>& given) {
  if (!opt->resume) return std::nullopt;
  if (opt->out.empty()) throw InputError("--resume needs --out DIR: the folder of the run to continue");
  const std::string last = opt->out + "/last.h5";
  if (!fs::exists(last)) {
    std::error_code ec;
    if (!fs::is_directory(opt->out, ec)) throw InputError(opt->out + ": no such run folder, nothing to resume");
    // A run stopped before its first epoch ended (Ctrl-C while the features were computed) has
    // nothing to continue from: it starts again, as the same command without --resume would.
    log_info(opt->out + " holds no checkpoint yet (the run stopped before its first epoch ended): starting it " +
             "from the beginning");
    opt->resume = false;
    return std::nullopt;
  }
  ResumedRun r;
  try {
    r.checkpoint = read_checkpoint(last);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + "; --resume cannot continue from it: " + kStartAgain);
  }
  if (!r.checkpoint.meta)
    throw InputError(last + ": not a vggtl checkpoint (no vggtl/ group), so not the state of a run; " + kStartAgain);
  if (r.checkpoint.meta->vggtl_version != VGGTL_VERSION)
    throw InputError(last + ": written by vggtl " + r.checkpoint.meta->vggtl_version + ", this is vggtl " +
                     VGGTL_VERSION + "; an exact resume needs the version that started the run: finish it with " +
                     "that version, or start a new run from its weights (--init " + last + " --out ANOTHER)");
  json stored;
  try {
    stored = json::parse(r.checkpoint.meta->run_config_json);
    const json state = json::parse(r.checkpoint.meta->history_json);
    r.history = history_from_json(state.at("history"));
    const json& p = state.at("position");
    r.position.epoch = p.at("epoch").get<int>();
    r.position.batches_done = p.at("batches_done").get<int64_t>();
    r.position.partial =
        XentSums{p.at("loss_sum").get<double>(), p.at("correct").get<double>(), p.at("count").get<int64_t>()};
    r.position.seconds = p.at("seconds").get<double>();
    r.stage = p.value("stage", 1);
    r.run_id = state.value("run_id", std::string());
  } catch (const json::exception& e) {
    throw InputError(last + ": damaged run state in vggtl/ (" + e.what() + "); " + kStartAgain);
  }
  check_history_csv(opt->out, r.history);
  const std::string best = opt->out + "/best.h5";
  std::optional<Checkpoint> b;
  if (fs::exists(best)) {
    try {
      b = read_checkpoint(best);
    } catch (const InputError& e) {
      throw InputError(std::string(e.what()) + "; --resume needs the run's best.h5 too: " + kStartAgain);
    }
  }
  if (!r.run_id.empty() && b) {
    const std::string best_id = run_id_of(*b);
    if (best_id != r.run_id)
      throw InputError(best + " and " + last + " come from different runs (run ids " +
                       (best_id.empty() ? std::string("none") : best_id) + " and " + r.run_id +
                       "); a file was copied in from elsewhere: " + kStartAgain);
  }
  // best.h5 must hold the epoch last.h5 calls the best. A kill between the two writes of an
  // improving epoch leaves best.h5 one improvement behind; last.h5 then holds the best weights
  // themselves (written at that epoch's end), and best.h5 is restored from it.
  const CheckpointMeta& m = *r.checkpoint.meta;
  if (m.best_epoch > 0) {
    int64_t best_on_disk = -1;
    if (b && b->meta) best_on_disk = b->meta->epoch;
    if (best_on_disk != m.best_epoch) {
      const bool last_is_best = r.position.batches_done == 0 && m.epoch == m.best_epoch;
      if (!last_is_best)
        throw InputError(best + " holds epoch " + std::to_string(best_on_disk) + ", not the best epoch " +
                         std::to_string(m.best_epoch) + " that " + last + " records; " + kStartAgain);
      log_info(best + " is behind " + last + " (the run was stopped between the two writes of epoch " +
               std::to_string(m.best_epoch) + "); restored from " + last);
      if (cluster::is_root())  // under mpiexec the run folder is rank 0's alone
        write_atomically(best, [&](const std::string& temp) {
          fs::copy_file(last, temp, fs::copy_options::overwrite_existing);
        });
    }
  }
  // The trainer takes the position as its own (a negative batch would index before the data).
  const EpochPosition& at = r.position;
  if (at.epoch < 1 || at.batches_done < 0 || at.partial.count < 0 || (r.stage != 1 && r.stage != 2))
    throw InputError(last + ": damaged run state in vggtl/ (epoch " + std::to_string(at.epoch) + ", batch " +
                     std::to_string(at.batches_done) + ", " + std::to_string(at.partial.count) + " images, stage " +
                     std::to_string(r.stage) + ")");
  const json now = opt->to_json();
  // Paths name the same file or folder however they are written (relative, through a link).
  static const std::set<std::string> paths = {"data", "train", "valid", "test", "weights", "init"};
  auto same = [](const std::string& key, const json& was, const json& is) {
    if (was == is) return true;
    if (!paths.count(key) || !was.is_string() || !is.is_string()) return false;
    std::error_code ec;
    return fs::equivalent(was.get<std::string>(), is.get<std::string>(), ec) && !ec;
  };
  const auto typed = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  for (const std::string& key : TrainOptions::resumable_keys())
    if (given.count(key) && stored.contains(key) && !same(key, stored[key], now[key]))
      throw InputError(option_flag(key) + " " + typed(now[key]) + " differs from the run being resumed (" +
                       typed(stored[key]) + "); start a new run with another --out to change it");
  const int epochs = opt->epochs;
  try {
    opt->from_json(stored);
  } catch (const json::exception& e) {  // a stored option of the wrong JSON type
    throw InputError(last + ": damaged run options in vggtl/ (" + e.what() + ")");
  }
  if (given.count("epochs") && epochs != opt->epochs && opt->fine_tune_epochs > 0)
    throw InputError("--epochs " + std::to_string(epochs) + " differs from the run being resumed (" +
                     std::to_string(opt->epochs) + "), whose second stage starts after them; start a new run");
  if (given.count("epochs")) opt->epochs = epochs;
  // Keep the user's spelling of paths that name the stored ones (messages and options.json then
  // read as typed); the stored run's values otherwise.
  json spelled = opt->to_json();
  for (const std::string& key : paths)
    if (given.count(key) && stored.contains(key) && now.contains(key)) spelled[key] = now[key];
  opt->from_json(spelled);
  r.complete = r.position.batches_done == 0 && r.position.epoch > opt->epochs + opt->fine_tune_epochs;
  return r;
}

// ---- Base weights and run folder ----

BaseWeights prepare_base(const TrainOptions& opt, const ResumedRun* resumed) {
  BaseWeights b;
  b.path = opt.weights.empty() ? default_weights_path() : opt.weights;
  b.random = b.path == "none";
  if (!b.random && !fs::exists(b.path)) {
    std::string msg = b.path + ": weights file not found";
    if (opt.weights.empty())
      msg += " (Keras keeps the VGG16 weights there after `keras.applications.VGG16(weights='imagenet', "
             "include_top=False)`; or pass --weights FILE, or --weights none to try vggtl with a random base)";
    throw InputError(msg);
  }
  // The hash goes into every checkpoint. Hashing 59 MB takes a noticeable part of a GPU run, so
  // it runs alongside the feature cache unless a check needs it now.
  const bool random = b.random;
  const std::string path = b.path;
  const uint64_t seed = opt.seed;
  b.sha256 = std::async(std::launch::async, [random, path, seed] {
               return random ? random_base_id(seed) : sha256_file(path);
             }).share();
  if (!opt.weights_sha256.empty() && b.sha256.get() != opt.weights_sha256)
    throw InputError(b.path + ": SHA-256 is " + b.sha256.get() + ", not the expected " + opt.weights_sha256);
  if (resumed && resumed->checkpoint.meta->base_weights_sha256 != b.sha256.get())
    throw InputError(b.path + ": not the base weights the run in " + opt.out + " started with");
  return b;
}

std::unique_ptr<FolderLock> lock_run_folder(const std::string& out) {
  auto lock = std::make_unique<FolderLock>(out, "vggtl_train");
  if (lock->stale_pid() > 0)
    log_info(out + ": process " + std::to_string(lock->stale_pid()) +
             " left its lock behind (it ended without releasing it); taken over");
  return lock;
}

std::string prepare_run_folder(const TrainOptions& opt, bool resuming, std::unique_ptr<FolderLock>* lock) {
  const std::string out = opt.out.empty() ? "runs/" + timestamp() : opt.out;
  if (cluster::is_root()) {  // under mpiexec the run folder is rank 0's alone
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out))
      throw InputError(out + ": cannot be the run folder (" + (ec ? ec.message() : "not a folder") + ")");
    if (lock && !*lock) *lock = lock_run_folder(out);
  }
  if (!resuming && fs::exists(out + "/last.h5"))
    throw InputError(out + ": already holds a run (last.h5); add --resume to continue it or choose another --out");
  return out;
}

// ---- Model ----

RunModel build_run_model(const TrainOptions& opt, int64_t classes, Device device, const BaseWeights& base,
                         bool resuming) {
  RunModel rm;
  rm.fine_tuned = convs_from(opt.trainable_from);
  rm.spec.image_size = opt.image_size;
  rm.spec.precision = base_precision(opt.precision, device);
  rm.spec.head = HeadConfig{opt.hidden, static_cast<float>(opt.dropout), classes};
  rm.spec.trainable_base = rm.fine_tuned;
  ModelSpec first_stage = rm.spec;  // two stages: the base starts frozen
  if (opt.fine_tune_epochs > 0) first_stage.trainable_base.clear();
  rm.model = build_model(first_stage, device);
  Model& model = *rm.model;
  rm.first_head = head_start(model);
  rm.boundary = rm.fine_tuned.empty() ? rm.first_head : model.index_of(rm.fine_tuned.front());
  model.initialize(opt.seed, base.random ? 0 : rm.first_head);
  if (base.random) {
    log_warning("--weights none: the VGG16 base has RANDOM weights (He-uniform, seed " + std::to_string(opt.seed) +
                "); accuracy will be far below what ImageNet weights give");
  } else {
    for (const std::string& n : load_base_weights(model, base.path)) log_info(n);
  }
  if (!opt.init.empty() && !resuming) {
    // Only the trained layers: the frozen base always comes from --weights, whose hash the
    // checkpoints record, so that --resume and a head-only best.h5 rebuild the same model.
    Checkpoint init = read_checkpoint(opt.init);
    bool had_base = false;
    for (CheckpointLayer& l : init.model.layers) {
      const int i = model.index_of(l.name);
      if (i >= 0 && i < rm.boundary && !l.weights.empty()) {
        l.weights.clear();
        had_base = true;
      }
    }
    if (had_base) log_info("--init " + opt.init + ": the head's weights are used; the base comes from --weights");
    load_checkpoint_weights(model, init, false);
  }
  return rm;
}

// ---- Scan and cache ----

void refuse_bad_files(const TrainOptions& opt, const RunSplits& splits, Device device) {
  if (opt.on_bad_file != BadFilePolicy::Fail || !cluster::is_root()) return;
  const LoaderOptions lo = loader_options(opt.image_size, opt.interpolation, opt.preprocessing, opt.batch_size,
                                          opt.workers, opt.decode, device);
  std::vector<BadFile> bad;
  for (const SplitListing* split : {&splits.train, &splits.valid, splits.test ? &*splits.test : nullptr}) {
    if (!split) continue;
    ImageLoader scan(split->items, lo);
    for (BadFile& b : scan.scan()) bad.push_back(std::move(b));
    throw_if_interrupted("the check of every image (--on-bad-file fail)");
  }
  if (!bad.empty())
    throw InputError(bad[0].path + ": " + bad[0].reason + " (" + std::to_string(bad.size()) + " bad file" +
                     (bad.size() > 1 ? "s" : "") + "; --on-bad-file skip trains without them)");
}

TrainData TrainInputs::data() const {
  return cache ? TrainData{&train_cache, &valid_cache, nullptr, nullptr}
               : TrainData{nullptr, nullptr, train_loader.get(), valid_loader.get()};
}

KeepFeatures kept_features_of(const TrainOptions& opt, const RunSplits& splits, const RunModel& rm, Device device,
                              const BaseWeights& base, const std::string& out, const std::string& split) {
  KeepFeatures k;
  if (rank_role(opt) != RankRole::Solo) return k;  // under mpiexec each rank holds a shard: not kept
  k.file = out + "/features_" + split + ".kept.h5";
  k.class_names = splits.train.classes;
  const Model& model = *rm.model;
  const int boundary = rm.boundary;
  const std::string fingerprint = data_fingerprint(splits);
  k.key = [&opt, &base, &model, boundary, device, split, fingerprint] {
    std::string key = "vggtl kept features 1\nsplit " + split + "\nweights " +
                      (base.random ? "random " + std::to_string(opt.seed) : base.sha256.get()) + "\n";
    key += "image " + std::to_string(opt.image_size) + " " + std::to_string(static_cast<int>(opt.interpolation)) + " " +
           std::to_string(static_cast<int>(opt.preprocessing)) + " " + std::to_string(static_cast<int>(opt.decode)) +
           "\nbatch " + std::to_string(opt.batch_size) + "\nprecision " +
           std::to_string(static_cast<int>(base_precision(opt.precision, device))) + " on " +
           (device.is_cpu() ? "cpu" : "cuda") + "\nbase to " + model.layer(boundary - 1).name() + " " +
           model.output_shape(boundary - 1).str() + "\ndata " + fingerprint + "\n";
    return key;
  };
  return k;
}

TrainInputs scan_and_cache(const TrainOptions& opt, const RunSplits& splits, RunModel& rm, Device device,
                           const BaseWeights& base, const std::string& out, StageTimes* times,
                           const std::function<void(const std::string&)>& say) {
  TrainInputs in;
  Model& model = *rm.model;
  in.loader = loader_options(opt.image_size, opt.interpolation, opt.preprocessing, opt.batch_size, opt.workers,
                             opt.decode, device);
  // Augmented training images change every epoch: the base runs on every training batch, and the
  // training loader keeps raw RGB rows for the augmentation, which applies the preprocessing.
  in.augment = parse_augment_spec(opt.augment);
  in.cache = opt.feature_cache == CacheMode::Auto && !in.augment.any();
  if (in.augment.any())
    log_info("Augmentation: " + in.augment.str() + "; the images change every epoch, so the frozen base runs on " +
             "every batch (no feature cache" +
             (opt.feature_cache_dtype != DType::F32 || opt.feature_cache_memory > 0
                  ? "; --feature-cache-dtype and --feature-cache-memory unused"
                  : "") +
             ")");
  LoaderOptions train_lo = in.loader;
  if (in.augment.any()) {
    train_lo.transform = PixelTransform::None;
    train_lo.dtype = DType::F32;
  }
  std::vector<BadFile> bad_train, bad_valid;
  {
    ImageLoader tl(splits.train.items, in.loader), vl(splits.valid.items, in.loader);
    log_info("Decoding: " + tl.decoder() + ", " + std::to_string(tl.workers()) + " worker threads");
    if (in.cache) {
      // Where each split's cache goes: memory while the budget lasts, then a file in the run folder.
      const Shape row = model.output_shape(rm.boundary - 1);
      CacheStorage train_store, valid_store;
      train_store.dtype = valid_store.dtype = opt.feature_cache_dtype;
      const int64_t budget = cache_memory_budget(opt.feature_cache_memory, device);
      const int64_t train_bytes = feature_cache_bytes(row, static_cast<int64_t>(tl.size()), train_store.dtype);
      const int64_t valid_bytes = feature_cache_bytes(row, static_cast<int64_t>(vl.size()), valid_store.dtype);
      if (!cluster::active()) {
        if (train_bytes > budget) train_store.spill_file = out + "/feature_cache_train.bin";
        if ((train_store.spill_file.empty() ? train_bytes : 0) + valid_bytes > budget)
          valid_store.spill_file = out + "/feature_cache_valid.bin";
      }
      check_cache_resources(opt, out, row, std::min<int64_t>(opt.batch_size, static_cast<int64_t>(tl.size())), budget,
                            train_store.spill_file.empty() ? 0 : train_bytes,
                            valid_store.spill_file.empty() ? 0 : valid_bytes);
      auto where = [&](const CacheStorage& s) {
        return s.spill_file.empty() ? std::string("in memory") : "in " + s.spill_file;
      };
      say("Feature cache: " + model.layer(rm.boundary - 1).name() + " output " + row.str() + " " +
          option_word(opt.feature_cache_dtype) + "; train " + megabytes(train_bytes) + " " + where(train_store) + ", valid " +
          megabytes(valid_bytes) + " " + where(valid_store) + " (memory budget " + megabytes(budget) + ")");
      train_store.keep = kept_features_of(opt, splits, rm, device, base, out, "train");
      valid_store.keep = kept_features_of(opt, splits, rm, device, base, out, "valid");
      in.train_cache = cache_features_on_ranks(model, rm.boundary, tl, times, "features train",
                                               opt.distributed_train, train_store);
      try {
        in.valid_cache = cache_features_on_ranks(model, rm.boundary, vl, times, "features valid",
                                                 opt.distributed_train, valid_store);
      } catch (const Error& e) {
        // The training split's features are complete: they are kept too.
        if (e.kind() != ErrorKind::Interrupted || train_store.keep.file.empty()) throw;
        std::string kept = keep_complete_features(train_store.keep, in.train_cache, splits.train.items);
        throw Error(std::string(e.what()) + kept, ErrorKind::Interrupted);
      }
      bad_train = in.train_cache.bad;
      bad_valid = in.valid_cache.bad;
    } else {
      bad_train = tl.scan();
      bad_valid = vl.scan();
    }
  }
  // Under mpiexec the other ranks only help with the features, unless they train too.
  if (rank_role(opt) == RankRole::FeatureHelper) return in;
  report_bad_files(bad_train, &in.bad_files);
  report_bad_files(bad_valid, &in.bad_files);
  if (!in.bad_files.empty() && opt.on_bad_file == BadFilePolicy::Fail)  // changed since refuse_bad_files
    throw InputError(in.bad_files[0].path + ": " + in.bad_files[0].reason + " (" +
                     std::to_string(in.bad_files.size()) + " bad file" + (in.bad_files.size() > 1 ? "s" : "") +
                     "; --on-bad-file skip trains without them)");
  in.train_items = without_bad(splits.train.items, bad_train);
  in.valid_items = without_bad(splits.valid.items, bad_valid);
  if (in.train_items.empty()) throw InputError(splits.train.root + ": no training image could be decoded");
  if (in.valid_items.empty()) throw InputError(splits.valid.root + ": no validation image could be decoded");
  if (!in.cache) {
    in.train_loader = std::make_unique<ImageLoader>(in.train_items, train_lo);
    in.valid_loader = std::make_unique<ImageLoader>(in.valid_items, in.loader);
  }
  return in;
}

// ---- Optimizer ----

std::unique_ptr<Optimizer> make_optimizer(const TrainOptions& opt, Model& model, double lr) {
  if (opt.optimizer == OptimizerKind::Sgd)
    return std::make_unique<Sgd>(model.param_arena(), model.grad_arena(), SgdConfig{lr, opt.momentum, false});
  return std::make_unique<Adam>(model.param_arena(), model.grad_arena(), AdamConfig{lr, 0.9, 0.999, 1e-7});
}

// ---- Checkpoints ----

RunCheckpointer::RunCheckpointer(Run run, const RunModel& rm, StageTimes* times)
    : run_(std::move(run)), rm_(rm), times_(times) {}

void RunCheckpointer::stage_base() {
  // The self-contained best.h5 of the end holds the frozen base (59 MB): written and synced now,
  // the end adds only the trained layers (the disk sync of the whole file cost ~0.6 s on a GPU
  // machine where the rest of the job took ~1.2 s).
  CheckpointModel full = checkpoint_model(*rm_.model, rm_.spec, true);
  CheckpointModel base;
  for (CheckpointLayer& l : full.layers) {
    const int i = rm_.model->index_of(l.name);
    if (i >= 0 && i < rm_.boundary && !l.weights.empty()) base.layers.push_back(std::move(l));
  }
  CheckpointMeta none;
  snapshot_to_host(&base, &none);
  if (cluster::is_root()) writer_.stage(run_.out + "/best.h5", std::move(base.layers));
}

void RunCheckpointer::save(const std::string& name, bool include_base, const EpochPosition& pos,
                           const RunState& state, const Optimizer& optimizer, int stage) {
  Stopwatch w;
  const TrainOptions& opt = *run_.options;
  Model& model = *rm_.model;
  CheckpointMeta m;
  m.vggtl_version = VGGTL_VERSION;
  m.class_names = run_.classes;
  m.image_height = m.image_width = opt.image_size;
  m.interpolation = option_word(opt.interpolation);
  m.preprocessing = option_word(opt.preprocessing);
  m.epoch = pos.epoch - 1;
  m.optimizer = option_word(opt.optimizer);
  m.optimizer_step = optimizer.iterations();
  m.optimizer_state = optimizer_state(model, optimizer);
  m.rng_seed = opt.seed;
  m.rng_counters = {{"epoch", pos.epoch}, {"batches_done", pos.batches_done}};
  m.monitor = option_word(opt.monitor);
  m.monitor_mode = monitor_is_max(opt.monitor) ? "max" : "min";
  m.best_value = state.best_value;
  m.best_epoch = state.best_epoch;
  m.base_weights_sha256 = run_.base_sha256.get();
  m.data_fingerprint = run_.data_fingerprint;
  m.base_included = include_base;
  json h;
  h["history"] = history_to_json(state.history);
  h["run_id"] = run_.run_id;
  h["position"] = {{"epoch", pos.epoch},         {"batches_done", pos.batches_done},
                   {"loss_sum", pos.partial.loss_sum}, {"correct", pos.partial.correct},
                   {"count", pos.partial.count}, {"seconds", pos.seconds},
                   {"stage", std::max(stage, 1)}};
  m.history_json = h.dump();
  json cfg = opt.to_json();
  cfg["epochs"] = opt.epochs;
  m.run_config_json = cfg.dump();
  CheckpointModel cm = checkpoint_model(model, rm_.spec, include_base, rm_.boundary);
  snapshot_to_host(&cm, &m);
  if (name == "best.h5") best_ = cm;
  if (cluster::is_root()) writer_.submit(run_.out + "/" + name, std::move(cm), std::move(m));
  times_->checkpoints += w.seconds();
}

Checkpoint RunCheckpointer::best() {
  Checkpoint best;
  if (best_) {
    best.path = run_.out + "/best.h5";
    best.model = *best_;
    return best;
  }
  writer_.wait();  // resumed after the last improvement: best.h5 on disk holds it
  return read_checkpoint(run_.out + "/best.h5");
}

// ---- Roles and history ----

RankRole rank_role(const TrainOptions& opt) {
  if (!cluster::active()) return RankRole::Solo;
  if (cluster::is_root()) return RankRole::Root;
  return opt.distributed_train ? RankRole::Follower : RankRole::FeatureHelper;
}

void write_history(const std::string& out, const RunState& state) {
  write_text_atomically(out + "/history.csv", history_csv(state.history));
}

// ---- Training stages ----

StagesPlan plan_stages(int epochs, int fine_tune_epochs, double lr, double fine_tune_lr, bool resuming,
                       int resumed_stage, int resumed_epoch) {
  StagesPlan plan;
  if (fine_tune_epochs <= 0) {
    plan.stages = {{0, 1, epochs, lr}};
    plan.restore = resuming;
    return plan;
  }
  plan.stages = {{1, 1, epochs, lr}, {2, epochs + 1, epochs + fine_tune_epochs, fine_tune_lr}};
  if (!resuming) return plan;
  if (resumed_stage == 2 || resumed_epoch > epochs) {
    // Stopped in stage 2, or after stage 1's last epoch: stage 2 is walked; the checkpoint's
    // optimizer and position are stage 2's only when it had begun.
    plan.stages.erase(plan.stages.begin());
    plan.restore = resumed_stage == 2;
  } else {
    plan.restore = true;
  }
  return plan;
}

namespace {

// What the end of each epoch does to the run: the record kept, the best epoch chosen, last.h5
// (and best.h5 when the monitor improved) saved, history.csv written, the epoch's line printed;
// and the same for a run that stops in the middle of an epoch.
class EpochSink {
 public:
  EpochSink(const TrainOptions& opt, RunCheckpointer& checkpoints, RunState* state, const std::string& out,
            RankRole role, const std::function<void(const std::string&)>& say,
            const std::function<void(const EpochRecord&)>& on_epoch_end)
      : opt_(opt), checkpoints_(checkpoints), state_(state), out_(out), role_(role), say_(say),
        on_epoch_end_(on_epoch_end) {}

  void end_epoch(EpochRecord r, const Optimizer& optimizer, int stage) {
    checkpoints_.check();  // an earlier checkpoint that could not be written ends the run here
    r.stage = stage;
    state_->history.push_back(r);
    const double v = monitored(r, opt_.monitor);
    const bool improved =
        std::isfinite(v) && (monitor_is_max(opt_.monitor) ? v > state_->best_value : v < state_->best_value);
    if (improved) {
      state_->best_value = v;
      state_->best_epoch = r.epoch;
    }
    // last.h5 first: a kill between the two leaves best.h5 behind last.h5, never ahead, and then
    // last.h5 holds the best weights (resume_run).
    const EpochPosition next{r.epoch + 1, 0, {}, 0};
    checkpoints_.save("last.h5", false, next, *state_, optimizer, stage);
    if (improved) checkpoints_.save("best.h5", false, next, *state_, optimizer, stage);
    if (writes_run_folder(role_)) write_history(out_, *state_);
    say_(epoch_line(r, opt_.epochs + opt_.fine_tune_epochs, improved, option_word(opt_.monitor)));
    if (on_epoch_end_) on_epoch_end_(r);
  }

  void stopped(const EpochPosition& at, const Optimizer& optimizer, int stage) {
    checkpoints_.save("last.h5", false, at, *state_, optimizer, stage);
    checkpoints_.wait();
    if (writes_run_folder(role_)) write_history(out_, *state_);
  }

 private:
  const TrainOptions& opt_;
  RunCheckpointer& checkpoints_;
  RunState* state_;
  std::string out_;
  RankRole role_;
  const std::function<void(const std::string&)>& say_;
  const std::function<void(const EpochRecord&)>& on_epoch_end_;
};

}  // namespace

TrainOutcome run_stages(const TrainOptions& opt, RunModel& rm, TrainInputs& inputs, RunCheckpointer& checkpoints,
                        RunState* state, const std::optional<ResumedRun>& resumed, const std::string& out,
                        const std::function<void(const std::string&)>& say,
                        const std::function<void(const EpochRecord&)>& on_epoch_end) {
  // The other ranks have sent their features and left, or train here with stops agreed after
  // every batch: an interruption from here on ends each rank where it stands.
  cluster::settle();
  Model& model = *rm.model;
  const RankRole role = rank_role(opt);
  const StagesPlan plan = plan_stages(opt.epochs, opt.fine_tune_epochs, opt.lr, opt.fine_tune_lr, resumed.has_value(),
                                      resumed ? resumed->stage : 1, resumed ? resumed->position.epoch : 1);
  TrainOutcome outcome;
  std::unique_ptr<Optimizer>& optimizer = outcome.optimizer;
  EpochSink sink(opt, checkpoints, state, out, role, say, on_epoch_end);
  const StepFaults faults = StepFaults::from_environment();
  int64_t earlier_stage_steps = 0;  // optimizer steps of the stages this process finished
  int64_t steps_at_stage_start = 0;
  auto interrupted = [&] {
    return faults.stop_after(earlier_stage_steps + optimizer->iterations() - steps_at_stage_start, out + "/last.h5");
  };

  std::unique_ptr<ProgressBar> bar;
  bool restore = plan.restore;
  for (const StagePlan& stage : plan.stages) {
    outcome.stage = stage.number;
    if (stage.number == 2) {
      for (const std::string& name : rm.fine_tuned) model.layer(model.index_of(name)).set_frozen(false);
      model.build(model.input_shape());  // the weights keep their values; the arenas move
      // Stage 2 begins from the best weights so far (the head of the best stage-1 epoch).
      if (!restore && state->best_epoch > 0) load_checkpoint_weights(model, checkpoints.best(), false);
    }
    optimizer = make_optimizer(opt, model, stage.lr);
    EpochPosition start{stage.first_epoch, 0, {}, 0};
    if (restore) {
      const CheckpointMeta& m = *resumed->checkpoint.meta;
      restore_optimizer_state(model, *optimizer, m.optimizer_state, m.optimizer_step, resumed->checkpoint.path);
      start = resumed->position;
      restore = false;
    }
    steps_at_stage_start = optimizer->iterations();
    if (stage.number == 2 && start.batches_done == 0 && start.epoch == stage.first_epoch)
      say("Stage 2: " + std::to_string(rm.fine_tuned.size()) + " conv layers from " + opt.trainable_from +
          " unfrozen, from the best epoch (" + std::to_string(state->best_epoch) + "), lr " + json(stage.lr).dump());
    TrainConfig config{stage.last_epoch, opt.batch_size, opt.steps_per_epoch, opt.validation_steps,
                       opt.seed, opt.shuffle == Shuffle::On, distributed_training(role, opt),
                       opt.allreduce, inputs.augment, inputs.loader.transform};
    // The dropout stream goes on after the earlier stage's steps.
    if (stage.number == 2)
      config.step_offset = static_cast<int64_t>(opt.epochs) *
                           batches_per_epoch(static_cast<int64_t>(inputs.train_items.size()), opt.batch_size,
                                             opt.steps_per_epoch);
    HeadTrainer trainer(model, rm.boundary, *optimizer, config, inputs.data());
    if (config.distributed) {
      if (role == RankRole::Root)
        say("Distributed training over " + std::to_string(cluster::size()) + " processes: " +
            trainer.reducer()->why());
      // Every rank walks the same epochs and stages (their records and best-epoch choices equal
      // rank 0's: summed gradients, the whole validation split each); rank 0 alone writes.
      synchronise_batch_norms(model);
    }
    outcome.finished = trainer.run(
        start,
        [&](EpochRecord r) {
          if (bar) bar->clear();
          sink.end_epoch(r, *optimizer, stage.number);
        },
        interrupted, &outcome.stopped,
        [&](int64_t done, int64_t total) {
          if (!bar) bar = std::make_unique<ProgressBar>("train", total, !opt.quiet && ProgressBar::stdout_is_terminal());
          bar->update(done);
          if (done == total) bar.reset();
        });
    earlier_stage_steps += optimizer->iterations() - steps_at_stage_start;
    steps_at_stage_start = optimizer->iterations();
    if (!outcome.finished) break;
  }
  bar.reset();
  if (!outcome.finished) sink.stopped(outcome.stopped, *optimizer, outcome.stage);
  return outcome;
}

// ---- Run folder ----

void write_run_folder(const RunSummary& s) {
  const TrainOptions& opt = *s.options;
  const RunState& state = *s.state;
  const ReportInput& report = *s.report;
  const int total_epochs = opt.epochs + opt.fine_tune_epochs;
  write_history(s.out, state);
  write_text_atomically(s.out + "/bad_files.csv", bad_files_csv(state.bad_files));
  json metrics;
  if (report.has_test)
    metrics["test"] = {{"accuracy", report.test.accuracy}, {"loss", report.test.loss},
                       {"correct", report.test.correct}, {"total", report.test.total},
                       {"macro_f1", report.test.macro_f1}};
  metrics["best_epoch"] = state.best_epoch;
  metrics["monitor"] = {{"name", option_word(opt.monitor)}, {"best", state.best_value}};
  metrics["epochs"] = total_epochs;
  metrics["trainable_from"] = opt.trainable_from;
  metrics["images"] = {{"train", s.inputs->train_items.size()}, {"valid", s.inputs->valid_items.size()},
                       {"test", report.has_test ? report.test.total : 0}, {"bad", state.bad_files.size()}};
  const StageTimes& t = s.times;
  metrics["seconds"] = {{"weights_load", t.weights},
                        {"listing", t.listing},
                        {"decode_wait", t.decode},
                        {"base_forward", t.base_forward},
                        {"head_training", t.head_training},
                        {"checkpoint_writes", t.checkpoints},
                        {"checkpoint_writes_background", s.checkpoint_busy_seconds},
                        {"evaluation", t.evaluation},
                        {"total", t.total}};
  metrics["checkpoint_writes_superseded"] = s.checkpoints_superseded;
  metrics["peak_gpu_memory_bytes"] =
      s.device.is_cuda() ? static_cast<int64_t>(cuda_allocator(s.device.index).stats().peak_bytes_reserved) : 0;
  metrics["device"] = s.device.str();
  metrics["precision"] = option_word(base_precision(opt.precision, s.device));
  metrics["feature_cache"] = s.inputs->cache;
  metrics["seed"] = opt.seed;
  metrics["base_weights"] = {{"file", s.base.random ? "none" : s.base.path}, {"sha256", s.base.sha256.get()}};
  metrics["versions"] = full_version_report(OpenLibraries::AlreadyLoaded);
  metrics["command_line"] = s.command_line;
  metrics["options"] = opt.to_json();
  write_text_atomically(s.out + "/metrics.json", metrics.dump(2) + "\n");

  ReportInput html = report;
  html.title = "vggtl run " + fs::path(s.out).filename().string();
  html.history = state.history;
  html.monitor = option_word(opt.monitor);
  html.best_epoch = state.best_epoch;
  html.bad_files = state.bad_files;
  html.times = t;
  html.feature_cache = s.inputs->cache;
  html.facts = {{"data", s.data_root},
                {"images", std::to_string(s.inputs->train_items.size()) + " train, " +
                               std::to_string(s.inputs->valid_items.size()) + " valid" +
                               (report.has_test ? ", " + std::to_string(report.test.total) + " test" : "")},
                {"device", s.device.str() + " (" + option_word(base_precision(opt.precision, s.device)) + ")"},
                {"base weights", s.base.random ? "random (--weights none)" : s.base.path},
                {"optimizer", option_word(opt.optimizer) + ", lr " + json(opt.lr).dump() + ", batch " + std::to_string(opt.batch_size)},
                {"command", s.command_line}};
  write_text_atomically(s.out + "/report.html", report_html(html));
}

}  // namespace vggtl
