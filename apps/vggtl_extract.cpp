// vggtl_extract: bottleneck features of the frozen VGG16 base for one split folder, into an
// HDF5 file (README.md, "The tools": features (N,h,w,512) NHWC f32, labels, paths, class_names).
// Sharded (under mpiexec, or one --shard-id at a time): each shard writes its own file and the
// output is one features file reading from them (apps/pipeline/shards.h).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/extract.h"
#include "apps/pipeline/features.h"
#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/option_choice.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/report.h"
#include "apps/pipeline/shards.h"
#include "apps/pipeline/train_options.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/hdf5/features_file.h"
#include "io/sha256.h"
#include "layers/vgg16.h"
#include "vggtl/build_info.h"
#include "kernels/cpu_backend.h"

using namespace vggtl;

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::cluster::run("vggtl_extract", &argc, &argv, [&] {
    CLI::App app{"vggtl_extract: VGG16 bottleneck features of a split folder (one sub-folder per class).\n"
                 "Example: vggtl_extract --data data/train --out train_features.h5\n"
                 "Under mpiexec -n N each process extracts one of N shards and rank 0 joins them."};
    ExtractSettings s;
    std::string& data = s.data;
    std::string& out = s.out;
    int shard_id = -1, num_shards = 0;
    bool merge = false;
    s.add_to(app);
    app.add_option("--shard-id", shard_id, "Extract only this shard (0-based) of --num-shards, into its own file");
    app.add_option("--num-shards", num_shards, "Shards of the listing (default: the mpiexec processes)");
    app.add_flag("--merge", merge, "Join the finished shard files of --num-shards into --out");
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    validate_extract_settings(s);
    check_output_file(out, "--out");
    // Before the expensive work: the file libhdf5 could crash or hang on, read by another process.
    precheck_hdf5_inputs({{s.weights.empty() ? default_weights_path() : s.weights, Hdf5Role::Weights}});
    if (cluster::active()) {
      if (shard_id >= 0) throw InputError("--shard-id runs one shard without mpiexec; under mpiexec each rank is one");
      if (num_shards > 0 && num_shards != cluster::size())
        throw InputError("--num-shards " + std::to_string(num_shards) + " differs from the " +
                         std::to_string(cluster::size()) + " mpiexec processes");
      num_shards = cluster::size();
      shard_id = cluster::rank();
    }
    if ((merge || shard_id >= 0) && num_shards < 1) throw InputError("--shard-id and --merge need --num-shards N");
    if (num_shards > 0 && !merge && !cluster::active() && shard_id < 0)
      throw InputError("--num-shards without --shard-id K or --merge: say which shard to extract");
    if (shard_id >= num_shards && num_shards > 0)
      throw InputError("--shard-id " + std::to_string(shard_id) + " outside 0.." + std::to_string(num_shards - 1));

    Stopwatch clock;
    const bool sharded = num_shards > 0;
    const SplitListing split = sharded ? list_split_on_root(data) : list_split(data);
    if (cluster::is_root())
      for (const std::string& w : split.warnings) log_warning(w);
    const auto summary = [&](const std::string& file, int64_t rows, const Shape& shape, size_t skipped) {
      std::printf("%s: %lld images, features (%lld, %lld, %lld, %lld), %zu skipped, %.1f s\n", file.c_str(),
                  static_cast<long long>(rows), static_cast<long long>(rows), static_cast<long long>(shape[0]),
                  static_cast<long long>(shape[1]), static_cast<long long>(shape[2]), skipped, clock.seconds());
      std::fflush(stdout);
    };
    if (merge) {
      if (cluster::active()) throw InputError("--merge runs as one process, without mpiexec");
      const int64_t rows = merge_feature_shards(out, split, num_shards);
      summary(out, rows, vgg16_feature_shape(s.image_size), static_cast<size_t>(int64_t(split.items.size()) - rows));
      return 0;
    }

    const Device device = prepare_extract(&s);
    FeaturesHeader header = extract_header(s, device, split);
    int64_t rows = 0;
    if (!sharded) {
      const std::vector<BadFile> bad = extract_features(s, device, split, split.items, header, out, "extract", &rows);
      summary(out, rows, header.feature_shape, bad.size());
      return 0;
    }

    const ShardRange range = shard_range(static_cast<int64_t>(split.items.size()), shard_id, num_shards, s.batch_size);
    const std::string list = listing_sha256(split);
    const std::string file = shard_path(out, shard_id, num_shards);
    const std::string name = "shard " + std::to_string(shard_id) + " of " + std::to_string(num_shards);
    JobProgress job(static_cast<int64_t>(split.items.size()));  // rank 0's bar shows every rank's count
    if (shard_problem(file, list, shard_id, num_shards, range.size(), feature_settings(header.attributes)).empty()) {
      log_info(file + ": " + name + " already extracted, skipped");
      job.publish(range.size());
    } else {
      const std::vector<DataItem> items(split.items.begin() + range.begin, split.items.begin() + range.end);
      header.attributes["list_sha256"] = list;
      header.attributes["shard"] = std::to_string(shard_id);
      header.attributes["shards"] = std::to_string(num_shards);
      header.attributes["shard_begin"] = std::to_string(range.begin);
      header.attributes["shard_items"] = std::to_string(range.size());
      header.attributes["shard_align"] = std::to_string(s.batch_size);
      const std::string label = cluster::active() ? "extract" : "extract " + name;  // the job's bar, or this shard's
      const std::vector<BadFile> bad = extract_features(s, device, split, items, header, file, label, &rows);
      summary(file, rows, header.feature_shape, bad.size());
    }
    if (!cluster::active()) return 0;  // --shard-id: one shard; --merge joins them
    cluster::barrier();                // every shard written (a rank that failed has ended the job)
    if (!cluster::is_root()) return 0;
    rows = merge_feature_shards(out, split, num_shards);
    summary(out, rows, header.feature_shape, static_cast<size_t>(int64_t(split.items.size()) - rows));
    return 0;
  });
}
