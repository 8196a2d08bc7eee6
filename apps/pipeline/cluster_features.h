// The feature cache of a split made by every rank of a job: each computes its contiguous shard
// (apps/pipeline/shards.h) and rank 0 receives the whole cache, rows in listing order, as
// cache_features gives in one process; the other ranks get an empty cache. Tested across
// processes by tests/apps/test_mpi_app.cpp.
#pragma once

#include <string>

#include "apps/pipeline/features.h"
#include "apps/pipeline/trainer.h"

namespace vggtl {

// One process: cache_features(model, head_start, loader, ..., storage). Several: a loader over
// this rank's shard of loader.items() with loader.options() (`loader` itself is left unused), and
// the cache in memory (no spill file) in storage.dtype.
// `everywhere`: every rank gets the whole cache (data-parallel training), not only rank 0.
FeatureCache cache_features_on_ranks(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                                     const std::string& progress_label, bool everywhere = false,
                                     const CacheStorage& storage = {});

// Data-parallel training: every BatchNormalization of `model` sums its batch statistics over
// the ranks of the job.
void synchronise_batch_norms(Model& model);

}  // namespace vggtl
