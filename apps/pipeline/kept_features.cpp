// The kept rows are a features file (io/hdf5/features_file.h) whose `paths` are the listing's
// relative paths of the rows, plus two root attributes: the pass's key and the count of listing
// items it covers. The bad files among those items are not stored: the ones without a row are
// decoded again when the file is read (there are few, and their reasons come out current).
#include "apps/pipeline/kept_features.h"

#include <filesystem>
#include <system_error>

#include "engine/error.h"
#include "engine/log.h"
#include "io/sha256.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

constexpr const char* kKeyAttr = "vggtl_kept_key";
constexpr const char* kProcessedAttr = "vggtl_kept_items";

// The key as stored: its hash (a key spells out paths and options; the file need not).
std::string stored_key(const KeepFeatures& keep) { return sha256_hex(keep.key()); }

void drop(const std::string& path, const std::string& why) {
  log_info(path + ": " + why + "; computing those features again");
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

void write_kept_features(const std::string& path, const KeepFeatures& keep, const FeatureCache& cache,
                         int64_t processed, const std::vector<DataItem>& listing) {
  FeaturesHeader header;
  header.feature_shape = cache.row_shape;
  header.class_names = keep.class_names;
  header.attributes[kKeyAttr] = stored_key(keep);
  header.attributes[kProcessedAttr] = std::to_string(processed);
  FeaturesWriter w(path, header);
  const int64_t step = std::max<int64_t>(1, w.chunk_rows());
  VGGTL_CHECK(cache.labels.defined(), "kept features: a cache without its labels");
  Tensor scratch;  // rows widened from f16 or read from the spill file, on the cache's device
  if (cache.spill || cache.features.dtype() != DType::F32) {
    std::vector<int64_t> dims = cache.row_shape.vec();
    dims.insert(dims.begin(), std::min(step, cache.size()));
    scratch = Tensor::empty(Shape(dims), DType::F32, cache.labels.device());
  }
  for (int64_t b = 0; b < cache.size(); b += step) {
    const int64_t e = std::min(cache.size(), b + step);
    std::vector<int32_t> labels(cache.host_labels.begin() + b, cache.host_labels.begin() + e);
    std::vector<std::string> paths;
    for (int64_t r = b; r < e; ++r)
      paths.push_back(listing[static_cast<size_t>(cache.items[static_cast<size_t>(r)])].relpath);
    w.append(cache.rows(b, e, scratch), labels, paths);
  }
  w.commit();
}

std::string keep_complete_features(const KeepFeatures& keep, const FeatureCache& cache,
                                   const std::vector<DataItem>& listing) {
  if (keep.file.empty() || cache.size() == 0) return "";
  const std::string done = "; the features of " + std::to_string(cache.size()) + " image" +
                           (cache.size() == 1 ? "" : "s") + " are kept in " + keep.file;
  std::error_code ec;
  if (fs::exists(keep.file, ec)) try {
    // A resumed run that read this pass from the file finds it there still.
    const FeaturesReader r(keep.file);
    const auto key = r.header().attributes.find(kKeyAttr);
    const auto processed = r.header().attributes.find(kProcessedAttr);
    if (key != r.header().attributes.end() && key->second == stored_key(keep) &&
        processed != r.header().attributes.end() && processed->second == std::to_string(listing.size()) &&
        r.rows() == cache.size())
      return done;
  } catch (const Error&) {  // none, or not usable: written below
  }
  try {
    write_kept_features(keep.file, keep, cache, static_cast<int64_t>(listing.size()), listing);
  } catch (const Error& e) {
    log_warning("the features computed so far could not be kept: " + std::string(e.what()));
    return "";
  }
  return done;
}

void remove_kept_features(const std::vector<KeepFeatures>& keeps) {
  for (const KeepFeatures& k : keeps) {
    std::error_code ec;
    if (!k.file.empty()) fs::remove(k.file, ec);
  }
}

std::optional<KeptFeatures> read_kept_features(const KeepFeatures& keep, const Shape& row_shape,
                                               const ImageLoader& loader) {
  const std::vector<DataItem>& listing = loader.items();
  std::error_code ec;
  if (keep.file.empty() || !fs::exists(keep.file, ec)) return std::nullopt;
  KeptFeatures k;
  k.path = keep.file;
  try {
    k.rows = std::make_unique<FeaturesReader>(keep.file);
  } catch (const Error& e) {
    drop(keep.file, std::string("kept features unreadable (") + e.what() + ")");
    return std::nullopt;
  }
  const FeaturesHeader& h = k.rows->header();
  const auto key = h.attributes.find(kKeyAttr);
  const auto processed = h.attributes.find(kProcessedAttr);
  if (key == h.attributes.end() || processed == h.attributes.end()) {
    drop(keep.file, "not a file of kept features");
    return std::nullopt;
  }
  if (key->second != stored_key(keep) || h.feature_shape != row_shape || h.class_names != keep.class_names) {
    drop(keep.file, "kept features of another configuration (weights, image size, preprocessing, precision, "
                    "device or data differ)");
    return std::nullopt;
  }
  try {
    k.processed = std::stoll(processed->second);
  } catch (const std::exception&) {
    k.processed = -1;
  }
  const int64_t rows = k.rows->rows();
  if (k.processed < rows || k.processed > static_cast<int64_t>(listing.size())) {
    drop(keep.file, "kept features with an impossible item count");
    return std::nullopt;
  }
  // Rows in listing order: each row's path is the next of the listing's paths that has one.
  std::vector<DataItem> missing;
  std::vector<int64_t> missing_index;
  int64_t at = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const std::string& p = k.rows->paths()[static_cast<size_t>(r)];
    while (at < k.processed && listing[static_cast<size_t>(at)].relpath != p) {
      missing.push_back(listing[static_cast<size_t>(at)]);
      missing_index.push_back(at);
      ++at;
    }
    if (at == k.processed || listing[static_cast<size_t>(at)].label != k.rows->labels()[static_cast<size_t>(r)]) {
      drop(keep.file, "kept features of other images");
      return std::nullopt;
    }
    k.items.push_back(at++);
  }
  for (; at < k.processed; ++at) {
    missing.push_back(listing[static_cast<size_t>(at)]);
    missing_index.push_back(at);
  }
  k.labels = k.rows->labels();
  if (!missing.empty()) {
    // The files that had no row were bad then; they must still be.
    ImageLoader scan(missing, loader.options());
    k.bad = scan.scan();
    if (k.bad.size() != missing.size()) {
      drop(keep.file, "kept features that skip images which now decode");
      return std::nullopt;
    }
    for (BadFile& b : k.bad) b.index = missing_index[static_cast<size_t>(b.index)];
  }
  return k;
}

}  // namespace vggtl
