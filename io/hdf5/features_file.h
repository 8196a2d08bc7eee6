// Bottleneck-features files (vggtl_extract's output, read back for training on precomputed
// features): dataset `features` f32 (N, h, w, c) NHWC, chunked by rows and written batch by
// batch; `labels` int32 (N); `paths` variable-length UTF-8 (N), relative to the split folder, in
// listing order; root attribute `class_names` (plus any string attributes the caller adds).
// Written to a temporary file and renamed on commit. A sharded extraction's file holds `labels`
// and `paths` itself and `features` as an HDF5 virtual dataset over the shards' files (read the
// same way; a missing or changed shard is an error, never zeros). Tested by
// tests/io/test_features_file.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vggtl {

struct FeaturesHeader {
  Shape feature_shape;                        // (h, w, c) of one row
  std::vector<std::string> class_names;
  std::map<std::string, std::string> attributes;  // extra root string attributes
};

// Appends rows; at most about two chunks of features are held in memory at any time.
class FeaturesWriter {
 public:
  // chunk_rows <= 0 picks rows for chunks of about 4 MiB.
  FeaturesWriter(const std::string& path, const FeaturesHeader& header, int64_t chunk_rows = 0);
  ~FeaturesWriter();  // abandons the file unless committed
  FeaturesWriter(const FeaturesWriter&) = delete;
  FeaturesWriter& operator=(const FeaturesWriter&) = delete;

  // features: f32 (n, h, w, c) on any device; labels and paths: n each.
  void append(const Tensor& features, const std::vector<int32_t>& labels,
              const std::vector<std::string>& paths);
  int64_t rows() const;
  int64_t chunk_rows() const;
  // Adds or replaces a root string attribute (one known only once the rows are written).
  void set_attribute(const std::string& name, const std::string& value);
  // Closes, syncs and renames the file into place. Error (file removed) when that fails.
  void commit();
  // Removes the temporary file; `path` is left as it was. Never throws.
  void abandon() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks the whole layout on open; InputError naming the file for anything inconsistent.
class FeaturesReader {
 public:
  explicit FeaturesReader(const std::string& path);
  ~FeaturesReader();
  FeaturesReader(const FeaturesReader&) = delete;
  FeaturesReader& operator=(const FeaturesReader&) = delete;

  const std::string& path() const;
  const FeaturesHeader& header() const;
  int64_t rows() const;
  const std::vector<int32_t>& labels() const;
  const std::vector<std::string>& paths() const;

  // Rows [begin, begin + count) into `out`, an f32 CPU tensor of (count, h, w, c).
  void read(int64_t begin, int64_t count, Tensor& out) const;
  Tensor read(int64_t begin, int64_t count) const;
  Tensor read_all() const { return read(0, rows()); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes (atomically) a features file whose `features` rows are those of the features files
// `sources`, in order, as a virtual dataset; `labels` and `paths` are copied. Source names are
// stored as given and resolved against the folder of `path`, so keep them relative (the shards
// then move with it). Every source must match header's feature shape and class names; a root
// attribute `list_sha256` in header.attributes must equal each source's, when it has one.
void write_virtual_features(const std::string& path, const FeaturesHeader& header,
                            const std::vector<std::string>& sources);

}  // namespace vggtl
