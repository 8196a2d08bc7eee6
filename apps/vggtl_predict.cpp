// vggtl_predict: class and probability for each image, as CSV on stdout, one row per input image
// (README.md, "The tools").
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/evaluate.h"
#include "apps/pipeline/file_list.h"
#include "apps/pipeline/inference.h"
#include "apps/pipeline/report.h"
#include "apps/pipeline/model_wiring.h"
#include "engine/error.h"
#include "engine/log.h"
#include "kernels/cpu_backend.h"

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::run_app("vggtl_predict", [&] {
    using namespace vggtl;
    CLI::App app{"vggtl_predict: classify images with a trained model; one CSV line per image on stdout.\n"
                 "Example: vggtl_predict --model runs/x/best.h5 photos/ extra.jpg"};
    InferenceOptions io;
    io.add_to(app);
    int top_k = 1;
    std::vector<std::string> paths, class_names;
    app.add_option("--top-k", top_k, "Classes per image, most probable first")->capture_default_str();
    app.add_option("--classes", class_names, "Class names for a Keras file (which stores none)")->delimiter(',');
    app.add_option("paths", paths, "Image files and folders (searched recursively)")->required();
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    if (top_k < 1) throw InputError("--top-k must be at least 1");

    // Before the expensive work: the files libhdf5 could crash or hang on, read by another process.
    precheck_hdf5_inputs({{io.model, Hdf5Role::Checkpoint},
                          {io.weights.empty() ? default_weights_path() : io.weights, Hdf5Role::Weights}});
    InferenceModel im = load_inference_model(io);
    if (im.class_names.empty()) {
      im.class_names = class_names;
      if (im.class_names.empty())
        for (int64_t c = 0; c < im.spec.head.classes; ++c) im.class_names.push_back("class_" + std::to_string(c));
    }
    if (static_cast<int64_t>(im.class_names.size()) != im.spec.head.classes)
      throw InputError("--classes: " + std::to_string(im.class_names.size()) + " names for a model with " +
                       std::to_string(im.spec.head.classes) + " outputs");
    const int k = std::min<int>(top_k, static_cast<int>(im.class_names.size()));
    const std::vector<DataItem> items = collect_images(paths);
    ImageLoader loader(items, im.loader);
    SplitPredictions p = predict_split(*im.model, im.head_start, loader, false, nullptr, "predict");

    // One row per input image, in order: a file that does not decode has empty class and
    // probability fields and the reason in `error`.
    std::printf("path");
    for (int j = 1; j <= k; ++j)
      k == 1 ? std::printf(",class,probability") : std::printf(",class_%d,probability_%d", j, j);
    std::printf(",error\n");
    std::vector<const BadFile*> bad_at(items.size(), nullptr);
    for (const BadFile& b : p.bad) bad_at.at(static_cast<size_t>(b.index)) = &b;
    VGGTL_CHECK(p.predictions.size() + p.bad.size() == items.size(), "vggtl_predict: ", p.predictions.size(),
                " predictions and ", p.bad.size(), " bad files for ", items.size(), " images");
    auto next = p.predictions.begin();
    for (size_t i = 0; i < items.size(); ++i) {
      std::printf("%s", csv_field(items[i].path).c_str());
      if (bad_at[i]) {
        for (int j = 0; j < k; ++j) std::printf(",,");
        std::printf(",%s\n", csv_field(bad_at[i]->reason).c_str());
        continue;
      }
      const Prediction& pr = *next++;
      std::vector<int> order(pr.probs.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pr.probs[a] > pr.probs[b]; });
      for (int j = 0; j < k; ++j)
        std::printf(",%s,%.6f", csv_field(im.class_names[order[j]]).c_str(), pr.probs[order[j]]);
      std::printf(",\n");
    }
    report_bad_files(p.bad, nullptr);
    if (p.predictions.empty()) throw InputError("no image could be decoded");
    return 0;
  });
}
