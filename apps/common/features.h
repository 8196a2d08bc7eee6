// Runs the frozen VGG16 base over a split, batch by batch, in listing order: the feature cache
// of vggtl_train and the output of vggtl_extract. Files that fail to decode are skipped and
// returned; the caller decides whether that stops the run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/common/report.h"
#include "apps/common/stage_times.h"
#include "io/loader/image_loader.h"
#include "layers/model.h"

namespace vggtl {

// features: (g, h, w, c) f32 on the model's device for the g images of the batch that decoded;
// items: their indices into the loader's items; labels: theirs. Valid during the call only.
using FeatureSink = std::function<void(const Tensor& features, const std::vector<int64_t>& items,
                                       const std::vector<int32_t>& labels)>;

// Base forward over every item of `loader` (layers [0, head_start) of `model`), in order.
std::vector<BadFile> run_base(Model& model, int head_start, ImageLoader& loader, const FeatureSink& sink,
                              StageTimes* times, const std::string& progress_label);

// The whole split's features kept on the model's device.
struct FeatureCache {
  Tensor features;                  // (n, h, w, c) f32
  Tensor labels;                    // (n) I32, same device
  std::vector<int32_t> host_labels;
  std::vector<int64_t> items;       // row -> index into the loader's items
  std::vector<BadFile> bad;
  int64_t size() const { return static_cast<int64_t>(items.size()); }
};

FeatureCache cache_features(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                            const std::string& progress_label);

// x (n, S, S, 3) from a loader batch, moved to `device`, rows of bad files removed.
Tensor batch_input(const Batch& batch, Device device);
// Logs each bad file once (repeats summarised) and appends it to *records (bad_files.csv).
void report_bad_files(const std::vector<BadFile>& bad, std::vector<BadFileRecord>* records);

// Labels of the good rows of a batch.
std::vector<int32_t> good_labels(const Batch& batch);

}  // namespace vggtl
