// The options every tool shares for how images come in and where the base runs: --device,
// --precision, --image-size, --batch-size, --interpolation, --preprocessing, --workers and
// --decode. One declaration, one help text and one check each, for vggtl_train, vggtl_extract,
// vggtl_eval and vggtl_predict (and the Python keywords, which are made from the tools'
// options). Tested by tests/apps/test_train_stages.cpp (ImageInputOptions suite).
#pragma once

#include <optional>

#include "apps/pipeline/option_words.h"
#include "io/loader/image_loader.h"

namespace CLI {
class App;
}

namespace vggtl {

void add_device_option(CLI::App& app, DeviceChoice* device);
void add_precision_option(CLI::App& app, Precision* precision);
void add_image_size_option(CLI::App& app, int* image_size);
void add_batch_size_option(CLI::App& app, int* batch_size);
void add_workers_option(CLI::App& app, int* workers);
void add_decode_option(CLI::App& app, DecodeMode* decode);
// The image options of a tool that makes the model: a value with a default.
void add_interpolation_option(CLI::App& app, ResizeFilter* interpolation);
void add_preprocessing_option(CLI::App& app, PixelTransform* preprocessing);
// The same for a tool that reads a model, which stores its own: an override, unset unless given.
void add_interpolation_option(CLI::App& app, std::optional<ResizeFilter>* interpolation);
void add_preprocessing_option(CLI::App& app, std::optional<PixelTransform>* preprocessing);

// InputError naming the option for a value out of range: --image-size (a multiple of 32 from
// 32; 0 when the tool has no such option), --batch-size (at least 1), --workers (0 or more).
void check_image_input(int image_size, int batch_size, int workers);

// --decode for a model on `device`: Gpu needs a CUDA device (InputError otherwise); Auto
// becomes the hybrid GPU decoder on a CUDA device and the CPU decoder elsewhere (in the loader).
DecodeMode decode_mode_for(DecodeMode mode, Device device);
// The image loader's settings from the options' values (--decode as above).
LoaderOptions loader_options(int image_size, ResizeFilter interpolation, PixelTransform preprocessing,
                             int batch_size, int workers, DecodeMode decode, Device device);

}  // namespace vggtl
