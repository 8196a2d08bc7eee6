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

}  // namespace vggtl
