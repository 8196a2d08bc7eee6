// Builds the model a checkpoint describes and fills it.
#include "apps/pipeline/inference.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <filesystem>
#include <system_error>

#include "apps/pipeline/model_wiring.h"
#include "apps/pipeline/option_choice.h"
#include "apps/pipeline/image_input_options.h"
#include "engine/log.h"
#include "io/sha256.h"

namespace vggtl {

void InferenceOptions::add_to(CLI::App& app) {
  app.add_option("--model", model, "Checkpoint (best.h5 of a run) or Keras full-model .h5 file")->required();
  app.add_option("--weights", weights,
                 "VGG16 weights for a checkpoint saved without its base (default: the Keras cache file)");
  add_device_option(app, &device);
  add_precision_option(app, &precision);
  add_preprocessing_option(app, &preprocessing);
  add_interpolation_option(app, &interpolation);
  add_batch_size_option(app, &batch_size);
  add_workers_option(app, &workers);
  add_decode_option(app, &decode);
}

InferenceModel load_inference_model(const InferenceOptions& o) {
  check_image_input(0, o.batch_size, o.workers);  // the image size is the model's
  Checkpoint ckpt = read_checkpoint(o.model);  // a bad --model is reported before any word on devices
  std::string note;
  const Device device = select_device(o.device, &note);
  if (!note.empty()) log_info(note);
  decode_mode_for(o.decode, device);  // --decode gpu without a GPU fails before any work
  InferenceModel im;
  im.spec = spec_from_checkpoint(ckpt);
  im.spec.precision = base_precision(o.precision, device);
  PixelTransform preprocessing = PixelTransform::Caffe;
  ResizeFilter interpolation = ResizeFilter::Nearest;
  if (ckpt.meta) {
    im.class_names = ckpt.meta->class_names;
    preprocessing = option_value<PixelTransform>(ckpt.meta->preprocessing, o.model + ": stored preprocessing");
    interpolation = option_value<ResizeFilter>(ckpt.meta->interpolation, o.model + ": stored interpolation");
    im.source = "vggtl checkpoint";
    if (static_cast<int64_t>(im.class_names.size()) != im.spec.head.classes)
      throw InputError(o.model + ": " + std::to_string(im.class_names.size()) + " class names for " +
                       std::to_string(im.spec.head.classes) + " outputs");
  } else {
    im.source = "Keras full-model file";
  }
  if (o.preprocessing) preprocessing = *o.preprocessing;
  if (o.interpolation) interpolation = *o.interpolation;

  im.model = build_model(im.spec, device);
  im.head_start = head_start(*im.model);
  const bool head_only = ckpt.meta && !ckpt.meta->base_included;
  if (head_only) {
    const std::string& id = ckpt.meta->base_weights_sha256;
    const std::string random_prefix = "random-he-uniform:seed=";
    if (id.rfind(random_prefix, 0) == 0) {
      // The run's random base is a function of its seed: rebuild it exactly. from_chars, not
      // stoull: a damaged id is an InputError naming the file, not std::invalid_argument.
      const std::string digits = id.substr(random_prefix.size());
      uint64_t seed = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seed);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
        throw InputError(o.model + ": vggtl/base_weights_sha256 '" + id + "' is damaged (no seed of a random base)");
      im.model->initialize(seed);
    } else {
      const std::string w = o.weights.empty() ? default_weights_path() : o.weights;
      if (!std::filesystem::exists(w))
        throw InputError(o.model + ": saved without its VGG16 base and " + w + " was not found; pass --weights FILE");
      if (sha256_file(w) != id)
        throw InputError(w + ": not the base weights " + o.model + " was trained with (SHA-256 " + id + ")");
      load_base_weights(*im.model, w);
    }
  }
  load_checkpoint_weights(*im.model, ckpt, !head_only);

  im.loader = loader_options(im.spec.image_size, interpolation, preprocessing,
                             o.batch_size, o.workers, o.decode, device);
  return im;
}

}  // namespace vggtl
