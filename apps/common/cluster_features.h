// The feature cache of a split made by every rank of a job: each computes its contiguous shard
// (apps/common/shards.h) and rank 0 receives the whole cache, rows in listing order, as
// cache_features gives in one process; the other ranks get an empty cache. Tested across
// processes by tests/apps/test_mpi_app.cpp.
#pragma once

#include <string>

#include "apps/common/features.h"

namespace vggtl {

// One process: cache_features(model, head_start, loader, ...). Several: a loader over this
// rank's shard of loader.items() with loader.options(); `loader` itself is left unused.
FeatureCache cache_features_on_ranks(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                                     const std::string& progress_label);

}  // namespace vggtl
