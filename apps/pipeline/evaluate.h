// Per-image predictions of the whole model on a split (test evaluation, vggtl_eval,
// vggtl_predict): the base and the head in eval mode, batch by batch, in listing order.
#pragma once

#include <vector>

#include "apps/pipeline/features.h"
#include "apps/pipeline/metrics.h"

namespace vggtl {

struct SplitPredictions {
  std::vector<Prediction> predictions;  // images that decoded, in listing order
  std::vector<BadFile> bad;
};

// with_labels: items carry true labels (the loss is computed); else labels are ignored.
SplitPredictions predict_split(Model& model, int head_start, ImageLoader& loader, bool with_labels,
                               StageTimes* times, const std::string& progress_label);

// Predictions for n in-memory RGB images, (n, h, w, 3) uint8 row-major, resized and preprocessed
// as `lo` says with the loader's own CPU arithmetic (make_resize_plan, resize_preprocess_cpu),
// in batches of lo.batch_size; labels are ignored and paths are "#0", "#1", ...
std::vector<Prediction> predict_pixels(Model& model, int head_start, const uint8_t* pixels, int64_t n, int h, int w,
                                       const LoaderOptions& lo, const std::string& progress_label);

}  // namespace vggtl
