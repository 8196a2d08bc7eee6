// Runs the frozen VGG16 base over a split, batch by batch, in listing order: the feature cache
// of vggtl_train and the output of vggtl_extract. Files that fail to decode are skipped and
// returned; the caller decides whether that stops the run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/pipeline/report.h"
#include "apps/pipeline/stage_times.h"
#include "io/loader/image_loader.h"
#include "layers/model.h"

namespace vggtl {

// features: (g, h, w, c) f32 on the model's device for the g images of the batch that decoded;
// items: their indices into the loader's items; labels: theirs. Valid during the call only.
using FeatureSink = std::function<void(const Tensor& features, const std::vector<int64_t>& items,
                                       const std::vector<int32_t>& labels)>;

// How far run_base got: items done (good and bad, whole batches) and the bad files among them.
// Kept up to date batch by batch, so that it still holds when run_base throws (an interruption).
struct BasePass {
  int64_t done = 0;
  std::vector<BadFile> bad;
};

// Base forward over every item of `loader` (layers [0, head_start) of `model`), in order.
// `before`: items of the same pass done earlier (a pass continued from kept features), counted
// in the progress line and in the message of an interruption.
std::vector<BadFile> run_base(Model& model, int head_start, ImageLoader& loader, const FeatureSink& sink,
                              StageTimes* times, const std::string& progress_label, int64_t before = 0,
                              BasePass* pass = nullptr);

// Features kept across an interruption (apps/pipeline/kept_features.h). Empty file: not kept.
struct KeepFeatures {
  std::string file;                        // features_<split>.kept.h5 in the run folder
  std::function<std::string()> key;        // what the rows depend on; called only when the file is used
  std::vector<std::string> class_names;
};

// How a split's features are kept: f32 or f16 elements, on the model's device or, when
// spill_file is set, in that raw file (rows of h*w*c elements, listing order), read back batch by
// batch; the file is removed when the last copy of the cache goes.
struct CacheStorage {
  DType dtype = DType::F32;
  std::string spill_file;
  // Rows read from keep.file when it holds this pass's, and written there when the pass is
  // interrupted (the Error then names the file).
  KeepFeatures keep;
};

class SpillFile;

// The whole split's features.
struct FeatureCache {
  Tensor features;                  // (n, h, w, c) f32 or f16 on the model's device; undefined when spilled
  Tensor labels;                    // (n) I32, on the model's device
  std::vector<int32_t> host_labels;
  std::vector<int64_t> items;       // row -> index into the loader's items
  std::vector<BadFile> bad;
  std::shared_ptr<SpillFile> spill;  // set when the rows live in a file
  Shape row_shape;                   // (h, w, c)
  int64_t size() const { return static_cast<int64_t>(items.size()); }
  // Rows index[0..k) of the cache into dst (k, h, w, c) f32 on the model's device, widened from
  // f16 and read from the spill file as needed. index_device: the same indices on dst's device
  // (in-memory caches gather there); index_host: on the host (the spill file is read with them).
  void gather(Tensor& dst, const Tensor& index_device, const int32_t* index_host) const;
  // Rows [begin, end) as f32: a view of the cache when it is f32 in memory, else filled into
  // scratch (at least end - begin rows, f32, on the model's device) and a view of it.
  Tensor rows(int64_t begin, int64_t end, Tensor& scratch) const;

 private:
  mutable Tensor staging_, host_staging_;  // f16 rows, and host rows read from the spill file
};

// Bytes the features of n images take: n * h * w * c * element size.
int64_t feature_cache_bytes(const Shape& per_image, int64_t n, DType dtype);

FeatureCache cache_features(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                            const std::string& progress_label, const CacheStorage& storage = {});

// x (n, S, S, 3) from a loader batch, moved to `device`, rows of bad files removed.
Tensor batch_input(const Batch& batch, Device device);
// Logs each bad file once (repeats summarised) and appends it to *records (bad_files.csv).
void report_bad_files(const std::vector<BadFile>& bad, std::vector<BadFileRecord>* records);

// Labels of the good rows of a batch.
std::vector<int32_t> good_labels(const Batch& batch);

}  // namespace vggtl
