// vggtl_eval: loss, accuracy, confusion matrix and per-class precision / recall / F1 of a
// trained model on one split folder (README.md, "The tools").
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/evaluate.h"
#include "apps/pipeline/inference.h"
#include "apps/pipeline/report.h"
#include "apps/pipeline/model_wiring.h"
#include "engine/log.h"
#include "io/atomic_file.h"
#include "kernels/cpu_backend.h"

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::run_app("vggtl_eval", [&] {
    using namespace vggtl;
    CLI::App app{"vggtl_eval: evaluate a trained model on a split folder (one sub-folder per class).\n"
                 "Example: vggtl_eval --model runs/x/best.h5 --data data/test"};
    InferenceOptions io;
    io.add_to(app);
    std::string data, out;
    app.add_option("--data", data, "Split folder with one sub-folder per class")->required();
    app.add_option("--out", out, "Also write predictions.csv, confusion_matrix.csv, per_class.csv, metrics.json here");
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    if (!out.empty()) check_output_folder(out, "--out");

    // Before the expensive work: the files libhdf5 could crash or hang on, read by another process.
    precheck_hdf5_inputs({{io.model, Hdf5Role::Checkpoint},
                          {io.weights.empty() ? default_weights_path() : io.weights, Hdf5Role::Weights}});
    InferenceModel im = load_inference_model(io);
    // A Keras file has no class names: the folder's sorted sub-folders name the outputs.
    SplitListing split = im.class_names.empty() ? list_split(data) : list_split(data, &im.class_names);
    for (const std::string& w : split.warnings) log_warning(w);
    if (im.class_names.empty()) {
      im.class_names = split.classes;
      if (static_cast<int64_t>(im.class_names.size()) != im.spec.head.classes)
        throw InputError(data + ": " + std::to_string(im.class_names.size()) + " class folders for a model with " +
                         std::to_string(im.spec.head.classes) + " outputs");
    }
    ImageLoader loader(split.items, im.loader);
    SplitPredictions p = predict_split(*im.model, im.head_start, loader, true, nullptr, "eval");
    std::vector<BadFileRecord> bad;
    report_bad_files(p.bad, &bad);
    if (p.predictions.empty()) throw InputError(data + ": no image could be decoded");
    const EvalSummary s = summarize(p.predictions, im.class_names);

    std::printf("Model: %s (%s)\nData: %s, %lld images, %zu skipped\n", io.model.c_str(), im.source.c_str(),
                data.c_str(), static_cast<long long>(s.total), p.bad.size());
    std::printf("Loss: %.4f\nAccuracy: %.4f (%lld/%lld)\n", s.loss, s.accuracy, static_cast<long long>(s.correct),
                static_cast<long long>(s.total));
    size_t w = 10;
    for (const std::string& c : im.class_names) w = std::max(w, c.size() + 2);
    std::printf("\nConfusion matrix (rows: true, columns: predicted)\n%*s", static_cast<int>(w), "");
    for (const std::string& c : im.class_names) std::printf("%*s", static_cast<int>(w), c.c_str());
    std::printf("\n");
    for (size_t i = 0; i < im.class_names.size(); ++i) {
      std::printf("%*s", static_cast<int>(w), im.class_names[i].c_str());
      for (int64_t v : s.confusion[i]) std::printf("%*lld", static_cast<int>(w), static_cast<long long>(v));
      std::printf("\n");
    }
    std::printf("\n%*s%11s%11s%11s%11s\n", static_cast<int>(w), "class", "precision", "recall", "f1", "support");
    for (const ClassMetrics& m : s.per_class)
      std::printf("%*s%11.4f%11.4f%11.4f%11lld\n", static_cast<int>(w), m.name.c_str(), m.precision, m.recall, m.f1,
                  static_cast<long long>(m.support));
    std::printf("%*s%33.4f\n", static_cast<int>(w), "macro F1", s.macro_f1);

    if (!out.empty()) {
      std::filesystem::create_directories(out);
      write_eval_files(out, s, p.predictions, im.class_names, "predictions.csv");
      write_text_atomically(out + "/bad_files.csv", bad_files_csv(bad));
      nlohmann::json j = {{"model", io.model}, {"data", data}, {"loss", s.loss}, {"accuracy", s.accuracy},
                          {"correct", s.correct}, {"total", s.total}, {"macro_f1", s.macro_f1},
                          {"skipped", p.bad.size()}};
      write_text_atomically(out + "/metrics.json", j.dump(2) + "\n");
    }
    return 0;
  });
}
