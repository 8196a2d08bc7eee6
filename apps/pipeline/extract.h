// vggtl_extract's work on one process's items: the frozen VGG16 base over a split (or a shard's
// range of it) into a features file, written atomically (io/hdf5/features_file.h). The tool and
// the Python module's vggtl.extract both call it; tested end to end by tests/apps/test_train_app.cpp
// and python/tests/test_vggtl.py (against the tool's file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/pipeline/report.h"
#include "io/loader/dataset.h"
#include "apps/pipeline/image_input_options.h"
#include "io/hdf5/features_file.h"

namespace CLI {
class App;
}

namespace vggtl {

// vggtl_extract's settings (its options, with the tools' defaults).
struct ExtractSettings {
  std::string data, out;  // the split folder, the features file
  std::string weights;  // "" = the Keras cache default; "none" = random base
  DeviceChoice device = DeviceChoice::Auto;
  Precision precision = Precision::TF32;
  ResizeFilter interpolation = ResizeFilter::Nearest;
  PixelTransform preprocessing = PixelTransform::Caffe;
  BadFilePolicy on_bad_file = BadFilePolicy::Skip;
  DecodeMode decode = DecodeMode::Auto;
  int image_size = 224, batch_size = 30, workers = 0;
  // Defines the options on `app` (--data and --out required), bound to the fields of *this.
  void add_to(CLI::App& app);
};

// Checks the values no option parser checks (InputError naming the option).
void validate_extract_settings(const ExtractSettings& s);

// The device the settings ask for (its note logged), checked against --decode, with s->weights
// resolved to the Keras cache default when empty and checked to exist.
Device prepare_extract(ExtractSettings* s);

// The features file's header for `split` on `device`: shape, class names and the settings.
FeaturesHeader extract_header(const ExtractSettings& s, Device device, const SplitListing& split);

// Features of `items` (all of the split, or one shard's range of it) into `out`, atomically;
// returns the bad files skipped and sets *rows to the rows written.
std::vector<BadFile> extract_features(const ExtractSettings& s, Device device, const SplitListing& split,
                                      const std::vector<DataItem>& items, FeaturesHeader header,
                                      const std::string& out, const std::string& label, int64_t* rows);

}  // namespace vggtl
