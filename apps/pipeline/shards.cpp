// Shard ranges, the listing sent from rank 0, and the shard files' checks and join.
#include "apps/pipeline/shards.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "apps/pipeline/cluster.h"
#include "engine/error.h"
#include "io/hdf5/features_file.h"
#include "io/sha256.h"

namespace vggtl {

namespace fs = std::filesystem;
using json = nlohmann::json;

ShardRange shard_range(int64_t items, int shard, int shards, int64_t align) {
  VGGTL_CHECK(items >= 0 && shards >= 1 && shard >= 0 && shard < shards && align >= 1, "shard ", shard, " of ",
              shards, " over ", items, " items in units of ", align);
  const int64_t units = items / align + (items % align != 0);
  // In 128 bits: units * shards could overflow 64 for absurd inputs only, but cost nothing.
  const auto at = [&](int k) {
    return std::min(items, static_cast<int64_t>(static_cast<__int128>(units) * k / shards) * align);
  };
  return ShardRange{at(shard), at(shard + 1)};
}

std::string listing_sha256(const SplitListing& s) {
  Digest h;
  for (const std::string& c : s.classes) h.update("class\t" + c + "\n");
  for (const DataItem& it : s.items)
    h.update(it.relpath + "\t" + std::to_string(it.bytes) + "\t" + std::to_string(it.label) + "\n");
  return h.hex();
}

std::string listing_to_bytes(const SplitListing& s) {
  json items = json::array();
  for (const DataItem& it : s.items) items.push_back({it.path, it.relpath, it.label, it.bytes});
  return json{{"root", s.root}, {"classes", s.classes}, {"warnings", s.warnings}, {"items", items}}.dump();
}

SplitListing listing_from_bytes(const std::string& bytes) {
  SplitListing s;
  const json j = json::parse(bytes);
  s.root = j.at("root").get<std::string>();
  s.classes = j.at("classes").get<std::vector<std::string>>();
  s.warnings = j.at("warnings").get<std::vector<std::string>>();
  for (const json& it : j.at("items"))
    s.items.push_back(DataItem{it.at(0).get<std::string>(), it.at(1).get<std::string>(), it.at(2).get<int32_t>(),
                               it.at(3).get<uint64_t>()});
  return s;
}

SplitListing list_split_on_root(const std::string& root) {
  if (!cluster::active()) return list_split(root);
  std::string bytes;
  if (cluster::is_root()) bytes = listing_to_bytes(list_split(root));
  cluster::broadcast(&bytes);
  return listing_from_bytes(bytes);
}

RunSplits list_splits_on_root(const SplitPaths& paths) {
  if (!cluster::active()) return list_splits(paths);
  std::string bytes;
  if (cluster::is_root()) {
    const RunSplits s = list_splits(paths);
    json j = {{"train", listing_to_bytes(s.train)}, {"valid", listing_to_bytes(s.valid)}};
    if (s.test) j["test"] = listing_to_bytes(*s.test);
    bytes = j.dump();
  }
  cluster::broadcast(&bytes);
  const json j = json::parse(bytes);
  RunSplits s;
  s.train = listing_from_bytes(j.at("train").get<std::string>());
  s.valid = listing_from_bytes(j.at("valid").get<std::string>());
  if (j.contains("test")) s.test = listing_from_bytes(j.at("test").get<std::string>());
  return s;
}

std::string shard_path(const std::string& out, int shard, int shards) {
  const fs::path p(out);
  const std::string ext = p.has_extension() ? p.extension().string() : ".h5";
  const std::string name = p.stem().string() + ".shard-" + std::to_string(shard) + "-of-" +
                           std::to_string(shards) + ext;
  return (p.parent_path() / name).string();
}

Device device_for_rank(Device d) {
  if (!d.is_cuda() || !cluster::active()) return d;
  const int devices = static_cast<int>(cuda_runtime_info().devices.size());
  return devices > 0 ? Device::cuda(cluster::local_rank() % devices) : d;
}

std::map<std::string, std::string> feature_settings(const std::map<std::string, std::string>& attributes) {
  std::map<std::string, std::string> s;
  for (const char* key : {"weights_sha256", "image_size", "interpolation", "preprocessing", "precision"}) {
    const auto it = attributes.find(key);
    s[key] = it == attributes.end() ? "" : it->second;
  }
  return s;
}

std::string shard_problem(const std::string& file, const std::string& list_sha256, int shard, int shards,
                          int64_t items, const std::map<std::string, std::string>& settings) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return "missing";
  std::map<std::string, std::string> a;
  int64_t rows = 0;
  try {
    FeaturesReader r(file);
    a = r.header().attributes;
    rows = r.rows();
  } catch (const Error& e) {
    return std::string("unreadable (") + e.what() + ")";
  }
  const auto attr = [&](const char* key) {
    const auto it = a.find(key);
    return it == a.end() ? std::string() : it->second;
  };
  if (attr("list_sha256") != list_sha256) return "stale: extracted from another listing of the data";
  if (attr("shard") != std::to_string(shard) || attr("shards") != std::to_string(shards))
    return "not shard " + std::to_string(shard) + " of " + std::to_string(shards);
  const int64_t skipped = attr("shard_skipped").empty() ? -1 : std::atoll(attr("shard_skipped").c_str());
  if (attr("shard_items") != std::to_string(items) || skipped < 0 || rows + skipped != items)
    return "incomplete: " + std::to_string(rows) + " rows and " + attr("shard_skipped") + " skipped files for " +
           std::to_string(items) + " images";
  if (!settings.empty() && feature_settings(a) != settings)
    return "stale: made with other weights or image settings";
  return "";
}

int64_t merge_feature_shards(const std::string& out, const SplitListing& listing, int shards) {
  const std::string list = listing_sha256(listing);
  const int64_t n = static_cast<int64_t>(listing.items.size());
  std::vector<std::string> names;
  std::map<std::string, std::string> settings, attributes;
  Shape shape;
  // The shards' unit (the extraction's batch size), as shard 0 recorded it.
  int64_t align = 1;
  try {
    const std::string a = FeaturesReader(shard_path(out, 0, shards)).header().attributes.at("shard_align");
    align = std::max<int64_t>(1, std::atoll(a.c_str()));
  } catch (const std::exception&) {
    // missing or unreadable: shard_problem below says which
  }
  for (int k = 0; k < shards; ++k) {
    const std::string file = shard_path(out, k, shards);
    const std::string problem =
        shard_problem(file, list, k, shards, shard_range(n, k, shards, align).size(), settings);
    if (!problem.empty())
      throw InputError(file + ": shard " + std::to_string(k) + " of " + std::to_string(shards) + " is " + problem +
                       " (extract it with --shard-id " + std::to_string(k) + " --num-shards " +
                       std::to_string(shards) + ")");
    if (k == 0) {
      FeaturesReader r(file);
      attributes = r.header().attributes;
      settings = feature_settings(attributes);
      shape = r.header().feature_shape;
    }
    names.push_back(fs::path(file).filename().string());
  }
  FeaturesHeader header;
  header.feature_shape = shape;
  header.class_names = listing.classes;
  for (const char* key : {"shard", "shard_items", "shard_skipped", "shard_begin", "shard_align"}) attributes.erase(key);
  attributes["shards"] = std::to_string(shards);
  attributes["list_sha256"] = list;
  header.attributes = attributes;
  write_virtual_features(out, header, names);
  return FeaturesReader(out).rows();
}

}  // namespace vggtl
