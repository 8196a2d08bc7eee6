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

namespace {

using namespace vggtl;

struct ExtractSettings {
  std::string weights;
  DeviceChoice device = DeviceChoice::Auto;
  Precision precision = Precision::TF32;
  ResizeFilter interpolation = ResizeFilter::Nearest;
  PixelTransform preprocessing = PixelTransform::Caffe;
  BadFilePolicy on_bad_file = BadFilePolicy::Skip;
  DecodeMode decode = DecodeMode::Auto;
  int image_size = 224, batch_size = 30, workers = 0;
};

// Features of `items` (all of the split, or one shard's range of it) into `out`, atomically;
// returns the bad files skipped.
std::vector<BadFile> extract(const ExtractSettings& s, Device device, const SplitListing& split,
                             const std::vector<DataItem>& items, FeaturesHeader header, const std::string& out,
                             const std::string& label, int64_t* rows) {
  ModelSpec spec;
  spec.image_size = s.image_size;
  spec.precision = base_precision(s.precision, device);
  spec.head.classes = std::max<int64_t>(2, static_cast<int64_t>(split.classes.size()));  // the head is unused
  auto model = build_model(spec, device);
  if (s.weights == "none") {
    log_warning("--weights none: the VGG16 base has RANDOM weights");
    model->initialize(0);
  } else {
    load_base_weights(*model, s.weights);
  }
  ImageLoader loader(items, loader_options(s.image_size, s.interpolation, s.preprocessing, s.batch_size, s.workers,
                                           s.decode, device));
  if (s.on_bad_file == BadFilePolicy::Fail) {
    std::vector<BadFile> bad = loader.scan();
    if (!bad.empty())
      throw InputError(bad[0].path + ": " + bad[0].reason + " (" + std::to_string(bad.size()) + " bad files)");
  }
  FeaturesWriter writer(out, header);
  const int first_head = head_start(*model);
  std::vector<BadFile> bad;
  try {
    bad = run_base(*model, first_head, loader, [&](const Tensor& f, const std::vector<int64_t>& index,
                                                   const std::vector<int32_t>& labels) {
      std::vector<std::string> rel;
      for (int64_t i : index) rel.push_back(items[static_cast<size_t>(i)].relpath);
      writer.append(f, labels, rel);
    }, nullptr, label);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Interrupted) throw;
    throw Error(std::string(e.what()) + "; " + out + " not written (shards finished earlier are kept and skipped " +
                    "when the same command runs again)",
                ErrorKind::Interrupted);
  }
  report_bad_files(bad, nullptr);
  // A shard records how many of its images it skipped, so that its rows can be checked later.
  if (header.attributes.count("shard")) writer.set_attribute("shard_skipped", std::to_string(bad.size()));
  if (writer.rows() + static_cast<int64_t>(bad.size()) != static_cast<int64_t>(items.size()))
    throw Error(out + ": " + std::to_string(writer.rows()) + " rows and " + std::to_string(bad.size()) +
                " skipped files for " + std::to_string(items.size()) + " images");
  writer.commit();
  *rows = writer.rows();
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::cluster::run("vggtl_extract", &argc, &argv, [&] {
    CLI::App app{"vggtl_extract: VGG16 bottleneck features of a split folder (one sub-folder per class).\n"
                 "Example: vggtl_extract --data data/train --out train_features.h5\n"
                 "Under mpiexec -n N each process extracts one of N shards and rank 0 joins them."};
    ExtractSettings s;
    std::string data, out;
    int shard_id = -1, num_shards = 0;
    bool merge = false;
    app.add_option("--weights", s.weights, "Keras VGG16 weights (default: the Keras cache file; 'none': random)");
    app.add_option("--data", data, "Split folder with one sub-folder per class")->required();
    app.add_option("--out", out, "Output .h5 file")->required();
    add_choice(app, "--device", &s.device, "auto, cuda or cpu");
    add_choice(app, "--precision", &s.precision, "fp32, tf32 (GPU; fp32 on the CPU) or bf16 (GPU, and CPUs with AVX512-BF16 or AMX)");
    app.add_option("--image-size", s.image_size, "Input side, a multiple of 32")->capture_default_str();
    app.add_option("--batch-size", s.batch_size, "Images per batch")->capture_default_str();
    add_choice(app, "--interpolation", &s.interpolation, "nearest or bilinear");
    add_choice(app, "--preprocessing", &s.preprocessing, "caffe or none");
    add_choice(app, "--on-bad-file", &s.on_bad_file, "skip or fail");
    app.add_option("--workers", s.workers, "Decoding threads (0: every core)")->capture_default_str();
    app.add_option("--shard-id", shard_id, "Extract only this shard (0-based) of --num-shards, into its own file");
    app.add_option("--num-shards", num_shards, "Shards of the listing (default: the mpiexec processes)");
    app.add_flag("--merge", merge, "Join the finished shard files of --num-shards into --out");
    add_decode_option(app, &s.decode);
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    if (s.batch_size < 1) throw InputError("--batch-size must be at least 1");
    if (s.workers < 0) throw InputError("--workers must be 0 (every core) or more");
    check_vgg16_image_size(s.image_size);
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

    std::string note;
    const Device device = device_for_rank(select_device(s.device, &note));
    if (!note.empty() && cluster::is_root()) log_info(note);
    decode_mode_for(s.decode, device);  // --decode gpu without a GPU fails before any work
    s.weights = s.weights.empty() ? default_weights_path() : s.weights;
    if (s.weights != "none" && !std::filesystem::exists(s.weights))
      throw InputError(s.weights + ": weights file not found (--weights)");

    FeaturesHeader header;
    header.feature_shape = vgg16_feature_shape(s.image_size);
    header.class_names = split.classes;
    header.attributes = {{"weights", s.weights},
                         {"weights_sha256", s.weights == "none" ? "none" : sha256_file(s.weights)},
                         {"image_size", std::to_string(s.image_size)},
                         {"interpolation", option_word(s.interpolation)},
                         {"preprocessing", option_word(s.preprocessing)},
                         {"precision", option_word(base_precision(s.precision, device))},
                         {"vggtl_version", VGGTL_VERSION}};
    int64_t rows = 0;
    if (!sharded) {
      const std::vector<BadFile> bad = extract(s, device, split, split.items, header, out, "extract", &rows);
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
      const std::vector<BadFile> bad = extract(s, device, split, items, header, file, label, &rows);
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
