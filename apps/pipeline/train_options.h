// vggtl_train's options (README.md, "The tools"): Keras defaults, checked values, their
// command-line definitions and their JSON form (stored in every checkpoint for --resume).
// Options with a fixed set of values are enums from the command line on: the words the user
// types (and run.json stores) are turned into values once, at that edge (option_words).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "apps/pipeline/image_input_options.h"
#include "apps/pipeline/option_words.h"
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "io/loader/image_loader.h"
#include "kernels/augment.h"
#include "kernels/resize_preprocess.h"
#include "layers/layer.h"

namespace CLI {
class App;
}

namespace vggtl {

struct TrainOptions {
  // Data and files.
  std::string data, train, valid, test;
  std::string weights;  // "" = the Keras cache default; "none" = random base
  std::string weights_sha256;
  std::string out;      // "" = runs/<date-time>
  std::string init;
  bool resume = false;
  // Training (Keras defaults).
  int epochs = 20;
  int batch_size = 30;
  double lr = 1e-4;
  OptimizerKind optimizer = OptimizerKind::Adam;
  double momentum = 0.0;
  int hidden = 64;
  double dropout = 0.5;
  Monitor monitor = Monitor::ValLoss;
  int64_t steps_per_epoch = -1;
  int64_t validation_steps = -1;
  uint64_t seed = 0;
  Shuffle shuffle = Shuffle::On;
  // Ours.
  int image_size = 224;
  ResizeFilter interpolation = ResizeFilter::Nearest;
  PixelTransform preprocessing = PixelTransform::Caffe;
  DeviceChoice device = DeviceChoice::Auto;
  Precision precision = Precision::TF32;
  CacheMode feature_cache = CacheMode::Auto;
  BadFilePolicy on_bad_file = BadFilePolicy::Skip;
  int workers = 0;
  DecodeMode decode = DecodeMode::Auto;  // JPEG decoding: the CPU or the hybrid stage
  std::string augment = "none";  // --augment spec (parse_augment_spec)
  // Fine-tuning: conv layers from this one up train with the head ("none": the base is frozen).
  std::string trainable_from = "none";
  int fine_tune_epochs = 0;       // > 0: head-only --epochs first, then these with the convs unfrozen
  double fine_tune_lr = 1e-5;
  DType feature_cache_dtype = DType::F32;  // F32 or F16 (stored as f16, widened when batched)
  double feature_cache_memory = 0;  // GB the cache may hold in memory before it spills to a file; 0: auto
  bool quiet = false;
  // Under mpiexec: every rank trains on its part of each global batch (not a stored run
  // setting: a run may be resumed with another process count).
  bool distributed_train = false;
  AllreduceRoute allreduce = AllreduceRoute::Auto;  // --distributed-train's gradient sum

  // Defines every option on `app`, bound to the fields of *this.
  void add_to(CLI::App& app);
  // InputError naming the option for values out of range.
  void validate() const;
  // The options that shape the run (everything but file locations, device and verbosity).
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& j);
  // Options --resume takes from the checkpoint; naming one with another value is an error.
  static const std::vector<std::string>& resumable_keys();
};

// The option a key of TrainOptions::to_json is typed as: "image_size" -> "--image-size".
std::string option_flag(const std::string& key);

// The 13 conv layer names of VGG16, in model order.
const std::vector<std::string>& vgg16_conv_names();
// --trainable-from NAME: that conv layer and the ones above it; "none": no layer. InputError
// listing the valid names for anything else.
std::vector<std::string> convs_from(const std::string& name);



// --augment: comma-separated ImageDataGenerator options, any subset, each at most once:
// hflip (horizontal_flip), shift=F (width_shift_range = height_shift_range, 0 <= F < 1),
// zoom=Z (zoom_range [1 - Z, 1 + Z], 0 <= Z < 1) or zoom=LO:HI (0 < LO <= HI), rotate=D
// (rotation_range in degrees, 0 <= D <= 180), brightness=LO:HI (brightness_range, 0 <= LO <= HI).
// "" or "none": no augmentation. InputError ("--augment: ...") naming the bad part.
AugmentSpec parse_augment_spec(const std::string& text);
// Adds --augment to an app, bound to *text (parse it with parse_augment_spec).
void add_augment_option(CLI::App& app, std::string* text);

}  // namespace vggtl
