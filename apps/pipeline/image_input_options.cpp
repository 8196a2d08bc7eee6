#include "apps/pipeline/image_input_options.h"

#include <CLI/CLI.hpp>

#include <string>

#include "apps/pipeline/option_choice.h"
#include "engine/error.h"

namespace vggtl {

void add_device_option(CLI::App& app, DeviceChoice* device) {
  add_choice(app, "--device", device, "auto (a GPU when there is a usable one), cuda or cpu");
}

void add_precision_option(CLI::App& app, Precision* precision) {
  add_choice(app, "--precision", precision,
             "Arithmetic of the VGG16 base: fp32, tf32 (GPU; fp32 on the CPU) or bf16 (GPU, and CPUs with "
             "AVX512-BF16 or AMX)");
}

void add_image_size_option(CLI::App& app, int* image_size) {
  app.add_option("--image-size", *image_size, "Input side in pixels, a multiple of 32")->capture_default_str();
}

void add_batch_size_option(CLI::App& app, int* batch_size) {
  app.add_option("--batch-size", *batch_size, "Images per batch")->capture_default_str();
}

void add_workers_option(CLI::App& app, int* workers) {
  app.add_option("--workers", *workers, "Decoding threads (0: every core)")->capture_default_str();
}

void add_decode_option(CLI::App& app, DecodeMode* decode) {
  add_choice(app, "--decode", decode,
             "JPEG decoding: gpu (entropy decoding on the worker threads, the rest on the GPU), cpu, or auto (gpu "
             "when the model runs on a GPU); the pixels are the same");
}

namespace {
constexpr const char* kInterpolationHelp = "Resize filter, as PIL: nearest or bilinear";
constexpr const char* kPreprocessingHelp =
    "caffe (BGR minus ImageNet means, what the VGG16 weights expect) or none (raw RGB 0..255)";
}  // namespace

void add_interpolation_option(CLI::App& app, ResizeFilter* interpolation) {
  add_choice(app, "--interpolation", interpolation, kInterpolationHelp);
}

void add_preprocessing_option(CLI::App& app, PixelTransform* preprocessing) {
  add_choice(app, "--preprocessing", preprocessing, kPreprocessingHelp);
}

void add_interpolation_option(CLI::App& app, std::optional<ResizeFilter>* interpolation) {
  add_choice(app, "--interpolation", interpolation,
             std::string(kInterpolationHelp) + " (default: the one the model was trained with)");
}

void add_preprocessing_option(CLI::App& app, std::optional<PixelTransform>* preprocessing) {
  add_choice(app, "--preprocessing", preprocessing,
             std::string(kPreprocessingHelp) + " (default: the one the model was trained with)");
}

void check_image_input(int image_size, int batch_size, int workers) {
  if (image_size != 0 && (image_size < 32 || image_size % 32 != 0))
    throw InputError("--image-size must be a positive multiple of 32 (VGG16 halves it five times), got " +
                     std::to_string(image_size));
  if (batch_size < 1) throw InputError("--batch-size must be at least 1, got " + std::to_string(batch_size));
  if (workers < 0) throw InputError("--workers must be 0 (every core) or more, got " + std::to_string(workers));
}

DecodeMode decode_mode_for(DecodeMode mode, Device device) {
  if (mode == DecodeMode::Gpu && !device.is_cuda())
    throw InputError("--decode gpu needs the model on a GPU (--device cuda, or auto with a GPU present); the "
                     "device is " + device.str());
  return mode;
}

LoaderOptions loader_options(int image_size, ResizeFilter interpolation, PixelTransform preprocessing,
                             int batch_size, int workers, DecodeMode decode, Device device) {
  LoaderOptions lo;
  lo.image_size = image_size;
  lo.filter = interpolation;
  lo.transform = preprocessing;
  lo.batch_size = batch_size;
  lo.workers = workers;
  lo.decode = decode_mode_for(decode, device);
  lo.device = device;
  return lo;
}

}  // namespace vggtl
