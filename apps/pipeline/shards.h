// Splitting one job's images over processes: rank 0 lists the data once and every rank gets the
// same listing; shard k of n is a contiguous range of it (no padding, possibly empty); each
// shard's features go to their own file, checked (listing hash, rows, settings) before a
// resumed job skips it and before the shards are joined into one virtual features file.
// Tested by tests/apps/test_cluster.cpp and tests/apps/test_mpi_app.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/pipeline/splits.h"
#include "engine/device.h"
#include "io/loader/dataset.h"

namespace vggtl {

struct ShardRange {
  int64_t begin = 0, end = 0;  // items [begin, end) of the listing
  int64_t size() const { return end - begin; }
};

// Shard `shard` of `shards` over `items` items, in whole units of `align` items (the last unit
// may be short): units [floor(k u / s), floor((k + 1) u / s)) of the u units. Aligned to the batch
// size, every shard's batches are the single process's batches: on a GPU, cuDNN's algorithm and
// so its rounding may depend on the batch shape, so features are bit-identical to one process's
// only when the batches are. (The CPU convolves every image alone and does not need it.)
ShardRange shard_range(int64_t items, int shard, int shards, int64_t align = 1);

// SHA-256 of what a listing says (classes, then relative path, size and label of every item),
// independent of where the split folder is: a shard made from another listing is stale.
std::string listing_sha256(const SplitListing& s);
std::string listing_to_bytes(const SplitListing& s);
SplitListing listing_from_bytes(const std::string& bytes);

// Rank 0 lists (list_split / list_splits, with their errors and warnings); every rank returns
// rank 0's listing. A single process just lists.
SplitListing list_split_on_root(const std::string& root);
RunSplits list_splits_on_root(const SplitPaths& paths);

// `out`'s shard file: "features.h5" -> "features.shard-2-of-4.h5", in the same folder.
std::string shard_path(const std::string& out, int shard, int shards);

// A CUDA device becomes the GPU of this rank on its node (local rank modulo devices).
Device device_for_rank(Device d);

// The settings of a features file that make features comparable (weights hash, image size,
// interpolation, preprocessing, precision), from its root attributes.
std::map<std::string, std::string> feature_settings(const std::map<std::string, std::string>& attributes);

// Why `file` is not a finished shard `shard` of `shards` of the listing with hash `list_sha256`
// and `items` items, whose features were made with `settings` (skipped when empty); "" when it is.
std::string shard_problem(const std::string& file, const std::string& list_sha256, int shard, int shards,
                          int64_t items, const std::map<std::string, std::string>& settings);

// Checks every shard of `out` (InputError naming the first missing or stale one) and writes
// `out` as one features file reading from them. Returns its rows.
int64_t merge_feature_shards(const std::string& out, const SplitListing& listing, int shards);

}  // namespace vggtl
