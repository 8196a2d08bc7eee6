// Option definitions with CLI11; JSON with nlohmann.
#include "apps/pipeline/train_options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "apps/pipeline/option_choice.h"
#include "engine/error.h"
#include "layers/vgg16.h"

namespace vggtl {

void TrainOptions::add_to(CLI::App& app) {
  app.add_option("--data", data, "Folder holding train/, valid/ and optionally test/, one sub-folder per class");
  app.add_option("--train", train, "Training split folder (overrides DATA/train)");
  app.add_option("--valid", valid, "Validation split folder (overrides DATA/valid)");
  app.add_option("--test", test, "Test split folder (overrides DATA/test)");
  app.add_option("--weights", weights,
                 "VGG16 weights: Keras .h5 (notop, include-top or full model) or an .onnx model; 'none' for a "
                 "random base. Default: ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
  app.add_option("--weights-sha256", weights_sha256, "Refuse weights whose SHA-256 differs");
  app.add_option("--out", out, "Run folder (default runs/<date-time>)");
  app.add_option("--init", init, "Start from the weights of a checkpoint (ours or a Keras full-model file)");
  app.add_flag("--resume", resume, "Continue the run in --out from its last.h5");
  app.add_option("--epochs", epochs, "Epochs")->capture_default_str();
  add_batch_size_option(app, &batch_size);
  app.add_option("--lr", lr, "Learning rate")->capture_default_str();
  add_choice(app, "--optimizer", &optimizer, "adam or sgd");
  app.add_option("--momentum", momentum, "SGD momentum")->capture_default_str();
  app.add_option("--hidden", hidden, "Units of the hidden Dense layer")->capture_default_str();
  app.add_option("--dropout", dropout, "Dropout rate after BatchNormalization")->capture_default_str();
  add_choice(app, "--monitor", &monitor, "Quantity that picks best.h5");
  app.add_option("--steps-per-epoch", steps_per_epoch, "Use only the first N batches of each epoch");
  app.add_option("--validation-steps", validation_steps, "Use only the first N validation batches");
  app.add_option("--seed", seed, "Seed of initialisation, shuffling and dropout")->capture_default_str();
  add_choice(app, "--shuffle", &shuffle, "Reshuffle the training set every epoch");
  add_image_size_option(app, &image_size);
  add_interpolation_option(app, &interpolation);
  add_preprocessing_option(app, &preprocessing);
  add_device_option(app, &device);
  add_precision_option(app, &precision);
  add_choice(app, "--feature-cache", &feature_cache, "auto: run the frozen base once per image; off: every epoch");
  add_choice(app, "--on-bad-file", &on_bad_file, "skip (and list in bad_files.csv) or fail before training");
  add_workers_option(app, &workers);
  add_choice(app, "--feature-cache-dtype", &feature_cache_dtype,
             "Element type of the cached features: fp32, or fp16 (half the memory; widened to fp32 per batch)");
  app.add_option("--feature-cache-memory", feature_cache_memory,
                 "GB of memory the feature cache may take on its device; a split beyond it is written to a file "
                 "in the run folder and read back batch by batch (default 0: half the RAM, or of the GPU's memory)");
  app.add_option("--trainable-from", trainable_from,
                 "Fine-tune: this VGG16 conv layer (e.g. block5_conv1) and the ones above it train with the head; "
                 "the features cached are the output of the last frozen layer")
      ->capture_default_str();
  app.add_option("--fine-tune-epochs", fine_tune_epochs,
                 "Two stages in one run (needs --trainable-from): --epochs of the head alone, then N more epochs "
                 "from the best head with the layers from --trainable-from unfrozen and a fresh optimizer")
      ->capture_default_str();
  app.add_option("--fine-tune-lr", fine_tune_lr, "Learning rate of the second stage (--fine-tune-epochs)")
      ->capture_default_str();
  add_decode_option(app, &decode);
  add_augment_option(app, &augment);
  app.add_flag("--quiet", quiet, "Print only warnings, errors and the final result");
  app.add_flag("--distributed-train", distributed_train,
               "Under mpiexec: data-parallel head training (gradients averaged over the global batch)");
  add_choice(app, "--allreduce", &allreduce,
             "How --distributed-train sums gradients: nccl (on the GPUs, one GPU per process), mpi (on the "
             "host), or auto (nccl where it can run, else mpi, saying why)");
}

void add_augment_option(CLI::App& app, std::string* text) {
  app.add_option("--augment", *text,
                 "Augment training images as Keras's ImageDataGenerator does: comma-separated hflip, "
                 "shift=F, zoom=Z or zoom=LO:HI, rotate=DEGREES, brightness=LO:HI (e.g. "
                 "hflip,shift=0.1,zoom=0.2,rotate=15,brightness=0.8:1.2)");
}

namespace {

[[noreturn]] void bad_augment(const std::string& what) { throw InputError("--augment: " + what); }

// A finite number filling the whole of `text`.
double augment_number(const std::string& name, const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = text.empty() ? NAN : std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size() || !std::isfinite(v))
    bad_augment(name + " takes a number, got '" + text + "'");
  return v;
}

// LO:HI as two numbers.
void augment_range(const std::string& name, const std::string& text, double* lo, double* hi) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos)
    bad_augment(name + " takes LO:HI (e.g. " + name + "=0.8:1.2), got '" + text + "'");
  *lo = augment_number(name, text.substr(0, colon));
  *hi = augment_number(name, text.substr(colon + 1));
  if (*lo > *hi) bad_augment(name + " range " + text + " has LO above HI");
}

}  // namespace

AugmentSpec parse_augment_spec(const std::string& text) {
  AugmentSpec spec;
  if (text.empty() || text == "none") return spec;
  std::vector<std::string> seen;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) bad_augment("empty transform in '" + text + "'");
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? item.substr(eq + 1) : "";
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) bad_augment("'" + name + "' given twice");
    seen.push_back(name);
    auto need_value = [&]() {
      if (!has_value) bad_augment(name + " needs a value (" + name + "=...)");
    };
    if (name == "hflip") {
      if (has_value) bad_augment("hflip takes no value, got '" + item + "'");
      spec.hflip = true;
    } else if (name == "shift") {
      need_value();
      spec.shift = augment_number(name, value);
      // Keras reads a range of 1 or more as pixels, not as a fraction of the size.
      if (spec.shift < 0 || spec.shift >= 1) bad_augment("shift must be a fraction in [0, 1), got " + value);
    } else if (name == "zoom") {
      need_value();
      if (value.find(':') != std::string::npos) {
        augment_range(name, value, &spec.zoom_lo, &spec.zoom_hi);
        if (!(spec.zoom_lo > 0)) bad_augment("zoom range must be above 0, got " + value);
      } else {
        const double z = augment_number(name, value);
        if (z < 0 || z >= 1) bad_augment("zoom must be in [0, 1) (zoom range [1 - Z, 1 + Z]), got " + value);
        spec.zoom_lo = 1 - z;
        spec.zoom_hi = 1 + z;
      }
    } else if (name == "rotate") {
      need_value();
      spec.rotate = augment_number(name, value);
      if (spec.rotate < 0 || spec.rotate > 180) bad_augment("rotate must be in [0, 180] degrees, got " + value);
    } else if (name == "brightness") {
      need_value();
      augment_range(name, value, &spec.brightness_lo, &spec.brightness_hi);
      if (spec.brightness_lo < 0) bad_augment("brightness range must not go below 0, got " + value);
      spec.brightness = true;
    } else {
      bad_augment("unknown transform '" + name + "' (known: hflip, shift, zoom, rotate, brightness)");
    }
  }
  return spec;
}

void TrainOptions::validate() const {
  auto bad = [](const std::string& what) { throw InputError(what); };
  if (epochs < 1) bad("--epochs must be at least 1, got " + std::to_string(epochs));
  if (!(lr > 0)) bad("--lr must be positive");
  if (momentum < 0 || momentum >= 1) bad("--momentum must be in [0, 1)");
  if (hidden < 1) bad("--hidden must be at least 1, got " + std::to_string(hidden));
  if (!(dropout >= 0 && dropout < 1)) bad("--dropout must be in [0, 1)");
  if (steps_per_epoch == 0 || steps_per_epoch < -1) bad("--steps-per-epoch must be at least 1");
  if (validation_steps == 0 || validation_steps < -1) bad("--validation-steps must be at least 1");
  check_image_input(image_size, batch_size, workers);
  if (!weights_sha256.empty() && weights_sha256.size() != 64) bad("--weights-sha256 takes 64 hex digits");
  parse_augment_spec(augment);  // InputError naming the bad part
  convs_from(trainable_from);    // InputError listing the valid names
  if (fine_tune_epochs < 0) bad("--fine-tune-epochs must be 0 or more, got " + std::to_string(fine_tune_epochs));
  if (fine_tune_epochs > 0 && trainable_from == "none")
    bad("--fine-tune-epochs needs --trainable-from LAYER: the layers to unfreeze in the second stage");
  if (!(fine_tune_lr > 0)) bad("--fine-tune-lr must be positive");
  if (!(feature_cache_memory >= 0)) bad("--feature-cache-memory must be 0 (auto) or a positive number of GB");
  if (allreduce != AllreduceRoute::Auto && !distributed_train)
    bad("--allreduce " + option_word(allreduce) + " chooses how --distributed-train sums gradients; add "
        "--distributed-train (under mpiexec) or leave --allreduce out");
}

const std::vector<std::string>& vgg16_conv_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const LayerWeightShapes& l : vgg16_weight_shapes()) n.push_back(l.layer);
    return n;
  }();
  return names;
}

std::vector<std::string> convs_from(const std::string& name) {
  if (name == "none" || name.empty()) return {};
  const std::vector<std::string>& all = vgg16_conv_names();
  const auto it = std::find(all.begin(), all.end(), name);
  if (it == all.end()) {
    std::string valid;
    for (const std::string& n : all) valid += (valid.empty() ? "" : ", ") + n;
    throw InputError("--trainable-from '" + name + "' is not a VGG16 conv layer (valid: none, " + valid + ")");
  }
  return std::vector<std::string>(it, all.end());
}

nlohmann::json TrainOptions::to_json() const {
  return nlohmann::json{{"epochs", epochs},
                        {"batch_size", batch_size},
                        {"lr", lr},
                        {"optimizer", option_word(optimizer)},
                        {"momentum", momentum},
                        {"hidden", hidden},
                        {"dropout", dropout},
                        {"monitor", option_word(monitor)},
                        {"steps_per_epoch", steps_per_epoch},
                        {"validation_steps", validation_steps},
                        {"seed", seed},
                        {"shuffle", option_word(shuffle)},
                        {"image_size", image_size},
                        {"interpolation", option_word(interpolation)},
                        {"preprocessing", option_word(preprocessing)},
                        {"precision", option_word(precision)},
                        {"feature_cache", option_word(feature_cache)},
                        {"on_bad_file", option_word(on_bad_file)},
                        {"augment", parse_augment_spec(augment).str()},
                        {"trainable_from", trainable_from},
                        {"fine_tune_epochs", fine_tune_epochs},
                        {"fine_tune_lr", fine_tune_lr},
                        {"feature_cache_dtype", option_word(feature_cache_dtype)},
                        {"data", data},
                        {"train", train},
                        {"valid", valid},
                        {"test", test},
                        {"weights", weights},
                        {"init", init}};
}

void TrainOptions::from_json(const nlohmann::json& j) {
  auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) j.at(key).get_to(field);
  };
  auto get_word = [&](const char* key, auto& field) {
    if (j.contains(key))
      field = option_value<std::decay_t<decltype(field)>>(j.at(key).get<std::string>(), std::string("stored ") + key);
  };
  get("epochs", epochs);
  get("batch_size", batch_size);
  get("lr", lr);
  get_word("optimizer", optimizer);
  get("momentum", momentum);
  get("hidden", hidden);
  get("dropout", dropout);
  get_word("monitor", monitor);
  get("steps_per_epoch", steps_per_epoch);
  get("validation_steps", validation_steps);
  get("seed", seed);
  get_word("shuffle", shuffle);
  get("image_size", image_size);
  get_word("interpolation", interpolation);
  get_word("preprocessing", preprocessing);
  get_word("precision", precision);
  get_word("feature_cache", feature_cache);
  get_word("on_bad_file", on_bad_file);
  get("augment", augment);
  get("trainable_from", trainable_from);
  get("fine_tune_epochs", fine_tune_epochs);
  get("fine_tune_lr", fine_tune_lr);
  get_word("feature_cache_dtype", feature_cache_dtype);
  get("data", data);
  get("train", train);
  get("valid", valid);
  get("test", test);
  get("weights", weights);
  get("init", init);
}

const std::vector<std::string>& TrainOptions::resumable_keys() {
  static const std::vector<std::string> keys = {
      "batch_size", "lr", "optimizer", "momentum", "hidden", "dropout", "monitor", "steps_per_epoch",
      "validation_steps", "seed", "shuffle", "image_size", "interpolation", "preprocessing", "precision",
      "feature_cache", "on_bad_file", "augment", "trainable_from", "fine_tune_epochs",
      "fine_tune_lr", "feature_cache_dtype", "data", "train", "valid", "test", "weights", "init"};
  return keys;
}

std::string option_flag(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

}  // namespace vggtl
