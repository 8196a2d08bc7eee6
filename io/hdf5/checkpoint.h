// Checkpoints (best.h5, last.h5): HDF5 in the Keras-2 full-model layout, so that h5py and
// Keras load_weights read them, plus a vggtl/ group holding what --resume, eval and predict
// need. Written atomically. Tested by tests/io/test_checkpoint.cpp (and, when python3 with
// h5py is present, cross-checked by scripts/check_checkpoint_h5py.py).
//
//   /                      attrs keras_version, backend, model_config [, training_config]
//   /model_weights         attrs layer_names (model order, every layer), backend, keras_version
//   /model_weights/<layer> attr weight_names; datasets <layer>/<weight name> ("FC_2/kernel:0")
//   /vggtl                 attrs: format_version, vggtl_version, class_names, image_size (h, w),
//                          interpolation, preprocessing, epoch, optimizer, optimizer_step,
//                          monitor, monitor_mode, best_value, best_epoch, base_weights_sha256,
//                          data_fingerprint, base_included, history_json, run_config_json
//   /vggtl/optimizer_weights  attr weight_names; datasets by name ("m/FC_2/kernel:0")
//   /vggtl/rng             attrs seed (uint64) and one int64 per named counter
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/atomic_file.h"

namespace vggtl {

inline constexpr int64_t kCheckpointFormatVersion = 1;

struct NamedTensor {
  std::string name;
  Tensor value;  // f32 (written from any device; read back on the CPU)
};

// One layer in model order. Weightless layers (input, pools, flatten, dropout) are listed too,
// and so are the base's layers in a head-only checkpoint (with no weights).
struct CheckpointLayer {
  std::string name;                  // "FC_2"
  std::string class_name;            // Keras class: "Conv2D", "Dense", "BatchNormalization", ...
  std::vector<NamedTensor> weights;  // Keras weight names ("FC_2/kernel:0"), Keras shapes
  std::string keras3_path = {};      // read from a Keras 3 file: its class path ("dense_1")
};

struct CheckpointModel {
  std::string model_config;     // JSON of the tf.keras Model config: stored as given
  std::string training_config;  // JSON; written only when not empty
  std::string keras_version = "2.15.0";
  std::string backend = "tensorflow";
  std::vector<CheckpointLayer> layers;
};

struct CheckpointMeta {
  int64_t format_version = kCheckpointFormatVersion;
  std::string vggtl_version;
  std::vector<std::string> class_names;
  int64_t image_height = 224;
  int64_t image_width = 224;
  std::string interpolation = "nearest";
  std::string preprocessing = "caffe";
  int64_t epoch = 0;  // completed epochs
  std::string optimizer = "adam";
  int64_t optimizer_step = 0;
  std::vector<NamedTensor> optimizer_state;  // Adam: "m/FC_2/kernel:0", "v/FC_2/kernel:0", ...
  uint64_t rng_seed = 0;
  std::map<std::string, int64_t> rng_counters;
  std::string monitor = "val_loss";
  std::string monitor_mode = "min";  // "min" | "max"
  double best_value = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;
  std::string base_weights_sha256;  // hex, of the weights file the base came from
  std::string data_fingerprint;     // hex
  bool base_included = true;        // false: head-only file written during a run
  std::string history_json = "[]";  // the run's history so far, restored by --resume
  std::string run_config_json = "{}";  // the run's options, for --resume checks
};

struct Checkpoint {
  std::string path;
  CheckpointModel model;
  std::optional<CheckpointMeta> meta;  // absent: a file written by Keras, not by vggtl
  std::vector<std::string> notes;
};

// Layers that stay the same until a checkpoint is written at the end of a run (the frozen base,
// 59 MB), written and synced ahead into the temporary file of `path`, so that the final
// write_checkpoint(path, ..., staged) adds only the rest and syncs little. The temporary is
// removed (and `path` untouched) when the staged layers are never used.
class StagedCheckpoint {
 public:
  // Writes and syncs the layers (host f32 tensors, kept for matches()). Error on I/O failure.
  StagedCheckpoint(const std::string& path, std::vector<CheckpointLayer> layers);
  const std::string& path() const { return file_.path(); }
  // Whether every staged layer is in `model` with the same weight names, shapes and bytes (a
  // file is never completed from stale weights).
  bool matches(const CheckpointModel& model) const;

 private:
  friend void write_checkpoint(const std::string&, const CheckpointModel&, const CheckpointMeta&,
                               StagedCheckpoint*);
  AtomicFile file_;
  std::vector<CheckpointLayer> layers_;
};

// Atomic: a failure at any point (thrown Error, crash) leaves the previous file as it was.
// Preconditions (internal errors): unique layer names without '/', f32 weight tensors. With
// `staged` (for the same path; it must match() the model) the staged file is completed and
// renamed into place, and `staged` is used up.
void write_checkpoint(const std::string& path, const CheckpointModel& model,
                      const CheckpointMeta& meta, StagedCheckpoint* staged = nullptr);
// The Keras-compatible part alone (no vggtl/ group), e.g. to hand a model to Keras users.
void write_keras_model(const std::string& path, const CheckpointModel& model);

// Reads our checkpoints and Keras-2 full-model files (groups in any order, weight names from
// weight_names, layer classes from model_config or, failing that, from the weights' names and
// shapes). InputError, one line naming the file, for a missing, foreign or damaged file, a
// weights-only file, or a checkpoint written by a newer vggtl.
Checkpoint read_checkpoint(const std::string& path);

}  // namespace vggtl
