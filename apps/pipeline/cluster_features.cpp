// A shard's cache travels to rank 0 as one message: an 8-byte length, a JSON header (rows,
// items, labels, bad files, element type; indices already global) and the rows as raw f32 or
// f16 (--feature-cache-dtype).
#include "apps/pipeline/cluster_features.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "apps/pipeline/cluster.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/shards.h"
#include "engine/error.h"
#include "layers/batch_normalization.h"

namespace vggtl {

namespace {

using json = nlohmann::json;

std::string pack(const FeatureCache& c, int64_t offset) {
  json h;
  std::vector<int64_t> items;
  for (int64_t i : c.items) items.push_back(i + offset);
  h["items"] = items;
  h["labels"] = c.host_labels;
  json bad = json::array();
  for (const BadFile& b : c.bad) bad.push_back({b.index + offset, b.path, b.reason});
  h["bad"] = bad;
  h["dtype"] = dtype_name(c.features.defined() ? c.features.dtype() : DType::F32);
  const std::string header = h.dump();
  Tensor host = c.features;
  if (c.size() > 0 && host.is_cuda()) {
    host = to_device(c.features, Device::cpu());
    synchronize(c.features.device());
  }
  const uint64_t n = header.size();
  std::string out(sizeof n, '\0');
  std::memcpy(out.data(), &n, sizeof n);
  out += header;
  if (c.size() > 0) out.append(static_cast<const char*>(host.raw()), host.nbytes());
  return out;
}

// The caches of `parts` (by rank) as one, on the model's device.
FeatureCache unpack(Model& model, int head_start, const std::vector<std::string>& parts, DType dtype) {
  const Shape per_image = model.output_shape(head_start - 1);
  const size_t row_bytes = static_cast<size_t>(per_image.numel()) * dtype_size(dtype);
  FeatureCache cache;
  std::vector<std::string> blobs;
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string& p = parts[k];
    uint64_t n = 0;
    VGGTL_CHECK(p.size() >= sizeof n, "rank ", k, ": empty feature message");
    std::memcpy(&n, p.data(), sizeof n);
    VGGTL_CHECK(p.size() >= sizeof n + n, "rank ", k, ": truncated feature message");
    const json h = json::parse(p.substr(sizeof n, n));
    const auto items = h.at("items").get<std::vector<int64_t>>();
    const auto labels = h.at("labels").get<std::vector<int32_t>>();
    VGGTL_CHECK(items.empty() || h.at("dtype").get<std::string>() == dtype_name(dtype), "rank ", k, ": features of ",
                h.at("dtype").get<std::string>(), ", not ", dtype_name(dtype));
    VGGTL_CHECK(labels.size() == items.size() && p.size() == sizeof n + n + items.size() * row_bytes, "rank ", k,
                ": feature message of ", p.size(), " bytes for ", items.size(), " rows");
    cache.items.insert(cache.items.end(), items.begin(), items.end());
    cache.host_labels.insert(cache.host_labels.end(), labels.begin(), labels.end());
    for (const json& b : h.at("bad"))
      cache.bad.push_back(BadFile{b.at(0).get<int64_t>(), b.at(1).get<std::string>(), b.at(2).get<std::string>()});
    blobs.push_back(p.substr(sizeof n + n));
  }
  std::vector<int64_t> dims = per_image.vec();
  dims.insert(dims.begin(), cache.size());
  Tensor host = Tensor::empty(Shape(dims), dtype);
  size_t at = 0;
  for (const std::string& b : blobs) {
    if (!b.empty()) std::memcpy(static_cast<char*>(host.raw()) + at, b.data(), b.size());
    at += b.size();
  }
  cache.features = host;
  cache.row_shape = per_image;
  if (model.device().is_cuda()) {
    cache.features = to_device(host, model.device());
    synchronize(model.device());
  }
  cache.labels = to_device(Tensor::wrap(cache.host_labels.data(), {cache.size()}, DType::I32), model.device());
  synchronize(model.device());
  return cache;
}

}  // namespace

void synchronise_batch_norms(Model& model) {
  for (int i = 0; i < model.size(); ++i)
    if (auto* bn = dynamic_cast<BatchNormalization*>(&model.layer(i)))
      bn->set_batch_reducer([](double* values, size_t n) { cluster::allreduce_sum(values, n); });
}

FeatureCache cache_features_on_ranks(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                                     const std::string& progress_label, bool everywhere, const CacheStorage& storage) {
  if (!cluster::active()) return cache_features(model, head_start, loader, times, progress_label, storage);
  const std::vector<DataItem>& all = loader.items();
  const ShardRange r = shard_range(static_cast<int64_t>(all.size()), cluster::rank(), cluster::size(),
                                   loader.options().batch_size);
  // Under mpiexec the caches stay in memory (no spill file): each rank holds its shard, rank 0 (or,
  // with --distributed-train, every rank) the whole, in the element type asked for.
  CacheStorage in_memory;
  in_memory.dtype = storage.dtype;
  FeatureCache mine;
  {
    JobProgress job(static_cast<int64_t>(all.size()));
    ImageLoader shard(std::vector<DataItem>(all.begin() + r.begin, all.begin() + r.end), loader.options());
    mine = cache_features(model, head_start, shard, times, progress_label, in_memory);
  }
  std::vector<std::string> parts = cluster::gather(pack(mine, r.begin));
  if (!everywhere) return cluster::is_root() ? unpack(model, head_start, parts, storage.dtype) : FeatureCache{};
  // Rank 0 sends the whole cache, in listing order, to every rank.
  std::string whole =
      cluster::is_root() ? pack(unpack(model, head_start, parts, storage.dtype), 0) : std::string();
  cluster::broadcast(&whole);
  return unpack(model, head_start, {whole}, storage.dtype);
}

}  // namespace vggtl
