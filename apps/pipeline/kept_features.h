// Features kept across an interruption. A vggtl_train run stopped by Ctrl-C or SIGTERM (while its
// features are computed, or later, before it completes) writes the feature rows it holds to a
// features file in its run folder, features_<split>.kept.h5; running the job again (the same
// command, or --resume) reads them back instead of running the base over those images again, and
// the complete run removes the files. A file applies only to a pass with the same key: what the
// rows depend on (weights, image size and resampling, preprocessing, precision, device kind, the
// base layers run, the split's listing); a file with another key, or a damaged one, is reported,
// removed and computed again. Tested by tests/apps/test_user_run.cpp (UserRun suite).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/pipeline/features.h"
#include "io/hdf5/features_file.h"

namespace vggtl {

// The kept rows of one split: those of items [0, processed) of its listing that decoded.
struct KeptFeatures {
  std::string path;
  int64_t processed = 0;
  std::vector<int64_t> items;   // row -> index into the listing
  std::vector<int32_t> labels;
  std::vector<BadFile> bad;     // the files of [0, processed) that failed to decode
  std::unique_ptr<FeaturesReader> rows;
};

// Writes the rows of `cache` (items [0, processed) of `listing`; cache.bad among them) to `path`,
// atomically. An Error when it cannot: the caller reports it and goes on stopping.
void write_kept_features(const std::string& path, const KeepFeatures& keep, const FeatureCache& cache,
                         int64_t processed, const std::vector<DataItem>& listing);

// write_kept_features of a whole pass's cache for an interrupted run: "; the features of N images
// are kept in FILE" to append to the interruption's message, or "" (with a warning) when the
// file could not be written.
std::string keep_complete_features(const KeepFeatures& keep, const FeatureCache& cache,
                                   const std::vector<DataItem>& listing);

// Removes the kept files of a run that completed.
void remove_kept_features(const std::vector<KeepFeatures>& keeps);

// The file at keep.file when it holds rows for this pass (same key, rows of `row_shape`, paths and
// labels those of the loader's items; the items without a row still fail to decode); nullopt when there is none, or (with one line saying why, and the
// file removed) when it is for another pass or cannot be read.
std::optional<KeptFeatures> read_kept_features(const KeepFeatures& keep, const Shape& row_shape,
                                               const ImageLoader& loader);

}  // namespace vggtl
