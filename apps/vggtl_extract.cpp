// vggtl_extract: bottleneck features of the frozen VGG16 base for one split folder, into an
// HDF5 file (README.md, "The tools": features (N,h,w,512) NHWC f32, labels, paths, class_names).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "apps/common/app_main.h"
#include "apps/common/features.h"
#include "apps/common/model_wiring.h"
#include "apps/common/report.h"
#include "apps/common/train_options.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/features_file.h"
#include "io/sha256.h"
#include "layers/vgg16.h"
#include "vggtl/build_info.h"
#include "kernels/cpu_backend.h"

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::run_app("vggtl_extract", [&] {
    using namespace vggtl;
    CLI::App app{"vggtl_extract: VGG16 bottleneck features of a split folder (one sub-folder per class).\n"
                 "Example: vggtl_extract --data data/train --out train_features.h5"};
    std::string weights, data, out, device_name = "auto", precision = "tf32", interpolation = "nearest",
                                      preprocessing = "caffe", on_bad_file = "skip", decode = "auto";
    int image_size = 224, batch_size = 30, workers = 0;
    app.add_option("--weights", weights, "Keras VGG16 weights (default: the Keras cache file; 'none': random)");
    app.add_option("--data", data, "Split folder with one sub-folder per class")->required();
    app.add_option("--out", out, "Output .h5 file")->required();
    app.add_option("--device", device_name, "auto, cuda or cpu")->capture_default_str()->check(CLI::IsMember({"auto", "cuda", "cpu"}));
    app.add_option("--precision", precision, "fp32, tf32 or bf16 (GPU)")->capture_default_str()->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
    app.add_option("--image-size", image_size, "Input side, a multiple of 32")->capture_default_str();
    app.add_option("--batch-size", batch_size, "Images per batch")->capture_default_str();
    app.add_option("--interpolation", interpolation, "nearest or bilinear")->capture_default_str()->check(CLI::IsMember({"nearest", "bilinear"}));
    app.add_option("--preprocessing", preprocessing, "caffe or none")->capture_default_str()->check(CLI::IsMember({"caffe", "none"}));
    app.add_option("--on-bad-file", on_bad_file, "skip or fail")->capture_default_str()->check(CLI::IsMember({"skip", "fail"}));
    app.add_option("--workers", workers, "Decoding threads (0: every core)")->capture_default_str();
    add_decode_option(app, &decode);
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    if (batch_size < 1) throw InputError("--batch-size must be at least 1");
    if (workers < 0) throw InputError("--workers must be 0 (every core) or more");
    check_vgg16_image_size(image_size);
    // Before select_device and the loader start threads: the file libhdf5 could crash or hang on.
    precheck_hdf5_inputs({{weights.empty() ? default_weights_path() : weights, Hdf5Role::Weights}});

    Stopwatch clock;
    std::string note;
    const Device device = select_device(device_name, &note);
    if (!note.empty()) log_info(note);
    decode_mode_for(decode, device);  // --decode gpu without a GPU fails before any work
    const SplitListing split = list_split(data);
    for (const std::string& w : split.warnings) log_warning(w);
    const std::string w = weights.empty() ? default_weights_path() : weights;
    if (w != "none" && !std::filesystem::exists(w)) throw InputError(w + ": weights file not found (--weights)");

    ModelSpec spec;
    spec.image_size = image_size;
    spec.precision = device.is_cpu() ? Precision::FP32 : parse_precision(precision);
    spec.head.classes = std::max<int64_t>(2, static_cast<int64_t>(split.classes.size()));  // the head is unused
    auto model = build_model(spec, device);
    if (w == "none") {
      log_warning("--weights none: the VGG16 base has RANDOM weights");
      model->initialize(0);
    } else {
      load_base_weights(*model, w);
    }

    ImageLoader loader(split.items, loader_options(image_size, interpolation, preprocessing, batch_size,
                                                   workers, decode, device));
    if (on_bad_file == "fail") {
      std::vector<BadFile> bad = loader.scan();
      if (!bad.empty())
        throw InputError(bad[0].path + ": " + bad[0].reason + " (" + std::to_string(bad.size()) + " bad files)");
    }
    FeaturesHeader header;
    header.feature_shape = vgg16_feature_shape(image_size);
    header.class_names = split.classes;
    header.attributes = {{"weights", w},
                         {"weights_sha256", w == "none" ? "none" : sha256_file(w)},
                         {"image_size", std::to_string(image_size)},
                         {"interpolation", interpolation},
                         {"preprocessing", preprocessing},
                         {"precision", device.is_cuda() ? precision : "fp32"},
                         {"vggtl_version", VGGTL_VERSION}};
    FeaturesWriter writer(out, header);
    const int first_head = head_start(*model);
    std::vector<BadFile> bad = run_base(*model, first_head, loader, [&](const Tensor& f, const std::vector<int64_t>& items,
                                                                       const std::vector<int32_t>& labels) {
      std::vector<std::string> rel;
      for (int64_t i : items) rel.push_back(split.items[static_cast<size_t>(i)].relpath);
      writer.append(f, labels, rel);
    }, nullptr, "extract");
    report_bad_files(bad, nullptr);
    writer.commit();
    std::printf("%s: %lld images, features (%lld, %lld, %lld, %lld), %zu skipped, %.1f s\n", out.c_str(),
                static_cast<long long>(writer.rows()), static_cast<long long>(writer.rows()),
                static_cast<long long>(header.feature_shape[0]), static_cast<long long>(header.feature_shape[1]),
                static_cast<long long>(header.feature_shape[2]), bad.size(), clock.seconds());
    return 0;
  });
}
