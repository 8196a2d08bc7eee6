// The base over a split into a features file: the model built for the image size, its weights
// (or a random base), the loader, the writer fed batch by batch, the row count checked.
#include "apps/pipeline/extract.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>

#include "apps/pipeline/features.h"
#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/option_choice.h"
#include "apps/pipeline/shards.h"
#include "engine/log.h"
#include "io/sha256.h"
#include "layers/vgg16.h"
#include "vggtl/build_info.h"

namespace vggtl {

void ExtractSettings::add_to(CLI::App& app) {
  app.add_option("--weights", weights, "VGG16 weights, Keras .h5 or .onnx (default: the Keras cache file; 'none': random)");
  app.add_option("--data", data, "Split folder with one sub-folder per class")->required();
  app.add_option("--out", out, "Output .h5 file")->required();
  add_device_option(app, &device);
  add_precision_option(app, &precision);
  add_image_size_option(app, &image_size);
  add_batch_size_option(app, &batch_size);
  add_interpolation_option(app, &interpolation);
  add_preprocessing_option(app, &preprocessing);
  add_choice(app, "--on-bad-file", &on_bad_file, "skip (and list the file) or fail before any work");
  add_workers_option(app, &workers);
  add_decode_option(app, &decode);
}

void validate_extract_settings(const ExtractSettings& s) {
  check_image_input(s.image_size, s.batch_size, s.workers);
}

Device prepare_extract(ExtractSettings* s) {
  std::string note;
  const Device device = device_for_rank(select_device(s->device, &note));
  if (!note.empty() && cluster::is_root()) log_info(note);
  decode_mode_for(s->decode, device);  // --decode gpu without a GPU fails before any work
  s->weights = s->weights.empty() ? default_weights_path() : s->weights;
  if (s->weights != "none" && !std::filesystem::exists(s->weights))
    throw InputError(s->weights + ": weights file not found (--weights)");
  return device;
}

FeaturesHeader extract_header(const ExtractSettings& s, Device device, const SplitListing& split) {
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
  return header;
}

std::vector<BadFile> extract_features(const ExtractSettings& s, Device device, const SplitListing& split,
                                      const std::vector<DataItem>& items, FeaturesHeader header,
                                      const std::string& out, const std::string& label, int64_t* rows) {
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

}  // namespace vggtl
