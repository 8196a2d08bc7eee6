// Checkpoints: every meta field and weight round-trips bit for bit (self-contained and head-only);
// Keras-written full-model files (groups in name order) read in model order; failed writes and
// killed writers leave the previous complete file; h5py (when present) reads ours as Keras would.
#include <gtest/gtest.h>


#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <limits>

#include "engine/error.h"
#include "engine/timer.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"
#include "io/sha256.h"
#include "support/keras_files.h"
#include "test_util.h"

using namespace vggtl;
using namespace vggtl::test;
namespace fs = std::filesystem;

namespace {

Tensor random_tensor(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s, DType::F32);
  std::vector<float> v = random_floats(static_cast<size_t>(s.numel()), seed);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::string config_for(const std::vector<CheckpointLayer>& layers) {
  std::string s = R"({"class_name": "Functional", "config": {"name": "model", "layers": [)";
  for (size_t i = 0; i < layers.size(); ++i)
    s += (i ? ", " : "") + std::string(R"({"class_name": ")") + layers[i].class_name +
         R"(", "config": {"name": ")" + layers[i].name + R"("}, "name": ")" + layers[i].name +
         R"(", "inbound_nodes": []})";
  return s + "]}}";
}

// The tutorial's architecture in miniature: two conv layers as the base, the full head.
CheckpointModel tiny_model(bool base_included, uint64_t seed) {
  auto layer = [&](const std::string& name, const std::string& cls,
                   std::vector<std::pair<std::string, Shape>> weights) {
    CheckpointLayer l{name, cls, {}};
    for (auto& [w, shape] : weights)
      l.weights.push_back({keras_weight_name(name, w), random_tensor(shape, seed++)});
    return l;
  };
  CheckpointModel m;
  m.layers = {layer("input_1", "InputLayer", {}),
              layer("block1_conv1", "Conv2D", {{"kernel", {3, 3, 3, 4}}, {"bias", {4}}}),
              layer("block1_conv2", "Conv2D", {{"kernel", {3, 3, 4, 4}}, {"bias", {4}}}),
              layer("block1_pool", "MaxPooling2D", {}),
              layer("flatten", "Flatten", {}),
              layer("FC_2", "Dense", {{"kernel", {16, 5}}, {"bias", {5}}}),
              layer("batch_normalization_1", "BatchNormalization",
                    {{"gamma", {5}}, {"beta", {5}}, {"moving_mean", {5}}, {"moving_variance", {5}}}),
              layer("dropout_1", "Dropout", {}),
              layer("softmax", "Dense", {{"kernel", {5, 2}}, {"bias", {2}}})};
  if (!base_included) {
    m.layers[1].weights.clear();
    m.layers[2].weights.clear();
  }
  m.model_config = config_for(m.layers);
  return m;
}

CheckpointMeta full_meta(bool base_included) {
  CheckpointMeta m;
  m.vggtl_version = "0.1.0";
  m.class_names = {"cat", "dog", "chat été"};
  m.image_height = 150;
  m.image_width = 200;
  m.interpolation = "bilinear";
  m.preprocessing = "caffe";
  m.epoch = 7;
  m.optimizer = "adam";
  m.optimizer_step = 47;
  uint64_t seed = 900;
  for (const char* slot : {"m", "v"})
    for (const char* w : {"FC_2/kernel:0", "FC_2/bias:0"})
      m.optimizer_state.push_back({std::string(slot) + "/" + w,
                                   random_tensor(std::strstr(w, "kernel") ? Shape{16, 5} : Shape{5},
                                                 seed++)});
  m.rng_seed = 0xDEADBEEFCAFEF00Dull;
  m.rng_counters = {{"shuffle_epoch", 7}, {"dropout_step", 47}};
  m.monitor = "val_accuracy";
  m.monitor_mode = "max";
  m.best_value = 0.9601;
  m.best_epoch = 5;
  m.base_weights_sha256 = sha256_hex("base weights");
  m.data_fingerprint = sha256_hex("data lists");
  m.base_included = base_included;
  // Long enough that a fixed-size attribute would not fit in an object header.
  m.history_json = "[";
  for (int e = 0; e < 2000; ++e)
    m.history_json += (e ? ",\n" : "") + std::string(R"({"epoch": )") + std::to_string(e + 1) +
                      R"(, "loss": 0.25, "accuracy": 0.875, "val_loss": 0.5, "val_accuracy": 0.75})";
  m.history_json += "]";
  m.run_config_json = R"({"lr": 0.0001, "batch_size": 30})";
  return m;
}

void expect_same_tensor(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), DType::F32) << what;
  EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << what << " differs";
}

void expect_same_layers(const std::vector<CheckpointLayer>& got,
                        const std::vector<CheckpointLayer>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].class_name, want[i].class_name) << want[i].name;
    ASSERT_EQ(got[i].weights.size(), want[i].weights.size()) << want[i].name;
    for (size_t k = 0; k < want[i].weights.size(); ++k) {
      EXPECT_EQ(got[i].weights[k].name, want[i].weights[k].name);
      expect_same_tensor(got[i].weights[k].value, want[i].weights[k].value,
                         want[i].weights[k].name);
    }
  }
}

void expect_same_meta(const CheckpointMeta& g, const CheckpointMeta& w) {
  EXPECT_EQ(g.format_version, w.format_version);
  EXPECT_EQ(g.vggtl_version, w.vggtl_version);
  EXPECT_EQ(g.class_names, w.class_names);
  EXPECT_EQ(g.image_height, w.image_height);
  EXPECT_EQ(g.image_width, w.image_width);
  EXPECT_EQ(g.interpolation, w.interpolation);
  EXPECT_EQ(g.preprocessing, w.preprocessing);
  EXPECT_EQ(g.epoch, w.epoch);
  EXPECT_EQ(g.optimizer, w.optimizer);
  EXPECT_EQ(g.optimizer_step, w.optimizer_step);
  ASSERT_EQ(g.optimizer_state.size(), w.optimizer_state.size());
  for (size_t i = 0; i < w.optimizer_state.size(); ++i) {
    EXPECT_EQ(g.optimizer_state[i].name, w.optimizer_state[i].name);
    expect_same_tensor(g.optimizer_state[i].value, w.optimizer_state[i].value,
                       w.optimizer_state[i].name);
  }
  EXPECT_EQ(g.rng_seed, w.rng_seed);
  EXPECT_EQ(g.rng_counters, w.rng_counters);
  EXPECT_EQ(g.monitor, w.monitor);
  EXPECT_EQ(g.monitor_mode, w.monitor_mode);
  EXPECT_EQ(g.best_value, w.best_value);
  EXPECT_EQ(g.best_epoch, w.best_epoch);
  EXPECT_EQ(g.base_weights_sha256, w.base_weights_sha256);
  EXPECT_EQ(g.data_fingerprint, w.data_fingerprint);
  EXPECT_EQ(g.base_included, w.base_included);
  EXPECT_EQ(g.history_json, w.history_json);
  EXPECT_EQ(g.run_config_json, w.run_config_json);
}



}  // namespace

TEST(Checkpoint, SelfContainedRoundTrip) {
  std::string dir = temp_dir("ckpt");
  std::string path = dir + "/best.h5";
  CheckpointModel model = tiny_model(true, 1);
  model.training_config = R"({"loss": "categorical_crossentropy"})";
  CheckpointMeta meta = full_meta(true);
  write_checkpoint(path, model, meta);
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"best.h5"});

  Checkpoint c = read_checkpoint(path);
  EXPECT_EQ(c.model.model_config, model.model_config);
  EXPECT_EQ(c.model.training_config, model.training_config);
  EXPECT_EQ(c.model.keras_version, "2.15.0");
  EXPECT_EQ(c.model.backend, "tensorflow");
  expect_same_layers(c.model.layers, model.layers);
  ASSERT_TRUE(c.meta.has_value());
  expect_same_meta(*c.meta, meta);
  EXPECT_TRUE(c.notes.empty());
}

// The frozen layers written ahead, the rest added at the end: the same file as one write.
TEST(CheckpointStaged, CompletedFileReadsLikeAWholeWrite) {
  std::string dir = temp_dir("ckpt_staged");
  std::string path = dir + "/best.h5";
  CheckpointModel model = tiny_model(true, 11);
  CheckpointMeta meta = full_meta(true);
  StagedCheckpoint staged(path, {model.layers[1], model.layers[2]});  // the two conv layers
  EXPECT_EQ(folder_entries(dir).size(), 1u) << "the staged temporary only";
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(staged.matches(model));
  write_checkpoint(path, model, meta, &staged);
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"best.h5"});
  Checkpoint c = read_checkpoint(path);
  EXPECT_EQ(c.model.model_config, model.model_config);
  expect_same_layers(c.model.layers, model.layers);
  ASSERT_TRUE(c.meta.has_value());
  expect_same_meta(*c.meta, meta);
  EXPECT_THROW(write_checkpoint(path, model, meta, &staged), Error) << "a staged file is used once";
}

TEST(CheckpointStaged, StaleOrMissingLayersDoNotMatch) {
  std::string dir = temp_dir("ckpt_staged_stale");
  std::string path = dir + "/best.h5";
  CheckpointModel model = tiny_model(true, 12);
  StagedCheckpoint staged(path, {model.layers[1], model.layers[2]});
  CheckpointModel changed = tiny_model(true, 12);
  changed.layers[2].weights[1].value.data<float>()[3] += 1.f;  // one changed float
  EXPECT_FALSE(staged.matches(changed));
  EXPECT_FALSE(staged.matches(tiny_model(false, 12))) << "a head-only model has no base weights";
  EXPECT_THROW(write_checkpoint(path, changed, full_meta(true), &staged), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(CheckpointStaged, UnusedStagingLeavesNothingBehind) {
  std::string dir = temp_dir("ckpt_staged_unused");
  std::string path = dir + "/best.h5";
  write_checkpoint(path, tiny_model(true, 13), full_meta(true));
  const std::string before = sha256_file(path);
  {
    CheckpointModel model = tiny_model(true, 14);
    StagedCheckpoint staged(path, {model.layers[1]});
  }
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"best.h5"});
  EXPECT_EQ(sha256_file(path), before);
}

TEST(Checkpoint, HeadOnlyRoundTripAndItsUseAsWeights) {
  std::string path = temp_dir("ckpt") + "/last.h5";
  CheckpointModel model = tiny_model(false, 2);
  CheckpointMeta meta = full_meta(false);
  meta.best_value = std::numeric_limits<double>::infinity();  // nothing seen yet
  write_checkpoint(path, model, meta);
  Checkpoint c = read_checkpoint(path);
  expect_same_layers(c.model.layers, model.layers);
  ASSERT_TRUE(c.meta.has_value());
  expect_same_meta(*c.meta, meta);
  EXPECT_TRUE(c.model.layers[1].weights.empty());

  std::vector<ExpectedLayer> base{{"block1_conv1", {{3, 3, 3, 4}, {4}}, {}}};
  std::string msg = error_of([&] { load_keras_weights(path, base); });
  EXPECT_EQ(msg, path + ": layer 'block1_conv1' holds no weights in this file (a head-only "
                        "checkpoint: the base comes from the weights file it records)");
}

TEST(Checkpoint, SelfContainedCheckpointServesAsBaseWeights) {
  std::string path = temp_dir("ckpt") + "/best.h5";
  CheckpointModel model = tiny_model(true, 3);
  write_checkpoint(path, model, full_meta(true));
  std::vector<ExpectedLayer> base{{"block1_conv1", {{3, 3, 3, 4}, {4}}, {}},
                                  {"block1_conv2", {{3, 3, 4, 4}, {4}}, {}}};
  MatchedWeights m = load_keras_weights(path, base);
  ASSERT_EQ(m.layers.size(), 2u);
  expect_same_tensor(m.layers[1].weights[0].value, model.layers[2].weights[0].value, "kernel");
  ASSERT_EQ(m.notes.size(), 1u);  // the head's layers are not used
}

TEST(Checkpoint, KerasWrittenFullModelReadsInModelOrder) {
  std::string path = temp_dir("ckpt") + "/keras.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras2, {2, 2, 2, 2, 2});
  for (const KerasLayerSpec& l : tutorial_head_spec(2, 4, 2)) spec.push_back(l);
  KerasFileOptions opt;
  opt.layout = KerasLayout::Keras2FullModel;
  opt.sorted_groups = true;
  write_keras_file(path, spec, opt);

  Checkpoint c = read_checkpoint(path);
  EXPECT_FALSE(c.meta.has_value());
  EXPECT_NE(c.notes.at(0).find("written by Keras, not vggtl"), std::string::npos);
  EXPECT_EQ(c.model.training_config, R"({"loss": "categorical_crossentropy"})");
  ASSERT_EQ(c.model.layers.size(), spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    const CheckpointLayer& l = c.model.layers[i];
    EXPECT_EQ(l.name, spec[i].name);
    EXPECT_EQ(l.class_name, spec[i].class_name);
    ASSERT_EQ(l.weights.size(), spec[i].weight_names.size());
    for (size_t k = 0; k < l.weights.size(); ++k) {
      EXPECT_EQ(l.weights[k].name, spec[i].weight_names[k]);
      std::vector<float> want = keras_test_values(1, spec[i].weight_names[k], spec[i].shapes[k].numel());
      EXPECT_TRUE(within(compare(l.weights[k].value.data<float>(), want.data(),
                                 spec[i].shapes[k].numel()),
                         0.0));
    }
  }
}

TEST(Checkpoint, ClassesInferredWhenModelConfigIsUnusable) {
  std::string path = temp_dir("ckpt") + "/odd.h5";
  KerasFileOptions opt;
  opt.layout = KerasLayout::Keras2FullModel;
  opt.model_config = "not json";
  write_keras_file(path, tutorial_head_spec(3, 4, 2), opt);
  Checkpoint c = read_checkpoint(path);
  std::vector<std::string> classes;
  for (const CheckpointLayer& l : c.model.layers) classes.push_back(l.class_name);
  EXPECT_EQ(classes, (std::vector<std::string>{"", "Dense", "BatchNormalization", "", "Dense"}));
  EXPECT_NE(c.notes.at(0).find("model_config is not a Keras model config"), std::string::npos);
}

TEST(Checkpoint, NestedModelStaysOneLayer) {
  std::string path = temp_dir("ckpt") + "/sequential.h5";
  std::vector<KerasLayerSpec> spec{nested_model_spec("vgg16", vgg16_spec(KerasNaming::Keras2))};
  for (const KerasLayerSpec& l : tutorial_head_spec(5, 4, 2)) spec.push_back(l);
  KerasFileOptions opt;
  opt.layout = KerasLayout::Keras2FullModel;
  write_keras_file(path, spec, opt);
  Checkpoint c = read_checkpoint(path);
  ASSERT_EQ(c.model.layers.size(), 6u);
  EXPECT_EQ(c.model.layers[0].name, "vgg16");
  EXPECT_EQ(c.model.layers[0].class_name, "Functional");
  EXPECT_EQ(c.model.layers[0].weights.size(), 26u);
}

TEST(Checkpoint, DefaultMetaRoundTrips) {
  std::string path = temp_dir("ckpt") + "/defaults.h5";
  const CheckpointMeta meta;  // empty class list, no optimizer state, no counters
  write_checkpoint(path, tiny_model(true, 8), meta);
  Checkpoint c = read_checkpoint(path);
  ASSERT_TRUE(c.meta.has_value());
  expect_same_meta(*c.meta, meta);
}

TEST(Checkpoint, KerasModelWithoutVggtlGroup) {
  std::string path = temp_dir("ckpt") + "/export.h5";
  CheckpointModel model = tiny_model(true, 4);
  write_keras_model(path, model);
  Checkpoint c = read_checkpoint(path);
  EXPECT_FALSE(c.meta.has_value());
  expect_same_layers(c.model.layers, model.layers);
}

TEST(CheckpointErrors, MissingWeightsOnlyAndNewerFormat) {
  std::string dir = temp_dir("ckpt");
  EXPECT_EQ(error_of([&] { read_checkpoint(dir + "/none.h5"); }), dir + "/none.h5: not found");

  std::string notop = dir + "/notop.h5";
  write_keras_file(notop, vgg16_spec(KerasNaming::Keras1));
  EXPECT_EQ(error_of([&] { read_checkpoint(notop); }),
            notop + ": a weights-only file (keras1-weights), not a saved model: it has no "
                    "model_config; use it as --weights");

  std::string future = dir + "/future.h5";
  CheckpointMeta meta = full_meta(true);
  meta.format_version = kCheckpointFormatVersion + 1;
  write_checkpoint(future, tiny_model(true, 5), meta);
  EXPECT_EQ(error_of([&] { read_checkpoint(future); }),
            future + ": checkpoint format 2 is not readable by this vggtl (it reads format 1)");
}

TEST(CheckpointAtomic, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  std::string dir = temp_dir("ckpt");
  std::string path = dir + "/best.h5";
  write_checkpoint(path, tiny_model(true, 6), full_meta(true));
  const std::string before = sha256_file(path);

  CheckpointModel bad = tiny_model(true, 7);
  bad.layers[6].weights[2].value = Tensor::zeros({5}, DType::I32);  // fails half-way through
  EXPECT_THROW(write_checkpoint(path, bad, full_meta(true)), Error);
  EXPECT_EQ(sha256_file(path), before);
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"best.h5"});
}

TEST(CheckpointAtomic, ManyRewritesReadBackExactly) {
  std::string dir = temp_dir("ckpt");
  std::string path = dir + "/last.h5";
  for (int i = 0; i < 20; ++i) {
    CheckpointModel model = tiny_model(i % 2 == 0, 100 + i);
    CheckpointMeta meta = full_meta(i % 2 == 0);
    meta.epoch = i;
    write_checkpoint(path, model, meta);
    Checkpoint c = read_checkpoint(path);
    expect_same_layers(c.model.layers, model.layers);
    ASSERT_TRUE(c.meta.has_value());
    EXPECT_EQ(c.meta->epoch, i);
  }
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"last.h5"});
}

// A writer killed at moments spread over one write: the file on disk is always one complete
// checkpoint (each kill at a fraction of the measured write time, so it lands inside a write).
TEST(CheckpointAtomic, KilledWriterLeavesACompleteFile) {
  std::string dir = temp_dir("ckpt");
  std::string path = dir + "/last.h5";
  const CheckpointModel models[2] = {tiny_model(true, 11), tiny_model(true, 12)};
  CheckpointMeta meta = full_meta(true);
  meta.epoch = 0;
  Stopwatch clock;
  write_checkpoint(path, models[0], meta);
  const double write_ms = 1000.0 * clock.seconds();
  const int rounds = 8;
  for (int round = 0; round < rounds; ++round) {
    ASSERT_TRUE(kill_writer_during_write(
        [&](int64_t i) {
          CheckpointMeta m = meta;
          m.epoch = i;
          write_checkpoint(path, models[i % 2], m);
        },
        write_ms * round / rounds));
    Checkpoint ck = read_checkpoint(path);
    ASSERT_TRUE(ck.meta.has_value());
    EXPECT_GE(ck.meta->epoch, 1);
    expect_same_layers(ck.model.layers, models[ck.meta->epoch % 2].layers);
    write_checkpoint(path, models[0], meta);  // removes the dead writer's temporary
    EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"last.h5"});
  }
}

// ---- cross-check with h5py, when python3 has it (skipped otherwise, failed under CI) ----

namespace {

std::string script() { return std::string(VGGTL_SOURCE_DIR) + "/scripts/check_checkpoint_h5py.py"; }
int run(const std::string& cmd, std::string* output) { return test::run_command(cmd, output); }
using test::python;

}  // namespace

TEST(CheckpointH5py, OurCheckpointReadsAsKerasWould) {
  std::string dir = temp_dir("ckpt");
  std::string path = dir + "/best.h5", expect = dir + "/expect.json";
  CheckpointModel model = tiny_model(true, 21);
  CheckpointMeta meta = full_meta(true);
  write_checkpoint(path, model, meta);
  std::ofstream e(expect);
  e << R"({"epoch": 7, "class_names": ["cat", "dog", "chat été"], "layers": [)";
  for (size_t i = 0; i < model.layers.size(); ++i) {
    e << (i ? "," : "") << R"({"name": ")" << model.layers[i].name << R"(", "weights": [)";
    for (size_t k = 0; k < model.layers[i].weights.size(); ++k) {
      const Tensor& t = model.layers[i].weights[k].value;
      double sum = 0;
      for (int64_t j = 0; j < t.numel(); ++j) sum += t.data<float>()[j];
      e << (k ? "," : "") << R"({"name": ")" << model.layers[i].weights[k].name
        << R"(", "shape": [)";
      for (int d = 0; d < t.ndim(); ++d) e << (d ? ", " : "") << t.dim(d);
      e << R"(], "sum": )" << std::setprecision(17) << sum << "}";
    }
    e << "]}";
  }
  e << "]}";
  e.close();

  std::string out;
  int rc = run(python() + " " + script() + " " + path + " --expect " + expect, &out);
  if (rc == 77 || rc == 127)
    SKIP_OR_FAIL_IN_CI("python3 with h5py and numpy not available: " + out);
  EXPECT_EQ(rc, 0) << out;
}

TEST(CheckpointH5py, KerasStyleFileFromH5pyReads) {
  std::string path = temp_dir("ckpt") + "/h5py_model.h5";
  std::string out;
  int rc = run(python() + " " + script() + " --write-keras-model " + path, &out);
  if (rc == 77 || rc == 127)
    SKIP_OR_FAIL_IN_CI("python3 with h5py and numpy not available: " + out);
  ASSERT_EQ(rc, 0) << out;
  Checkpoint c = read_checkpoint(path);
  EXPECT_FALSE(c.meta.has_value());
  const std::vector<std::string> names{"input_1", "conv",    "pool",
                                       "flatten", "FC_2",    "batch_normalization_1",
                                       "dropout_1", "softmax"};
  ASSERT_EQ(c.model.layers.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const CheckpointLayer& l = c.model.layers[i];
    EXPECT_EQ(l.name, names[i]);
    for (size_t k = 0; k < l.weights.size(); ++k) {
      const Tensor& t = l.weights[k].value;
      for (int64_t j = 0; j < t.numel(); ++j) {
        const float want = static_cast<float>((j % 17 - 8) / 8.0 + static_cast<double>(i) + k / 4.0);
        ASSERT_EQ(t.data<float>()[j], want) << l.weights[k].name << "[" << j << "]";
      }
    }
  }
  EXPECT_EQ(c.model.layers[5].class_name, "BatchNormalization");
  EXPECT_EQ(c.model.layers[5].weights[3].name, "batch_normalization_1/moving_variance:0");
  EXPECT_EQ(c.model.layers[1].weights[0].value.shape(), (Shape{3, 3, 3, 4}));
}

// Weights living on the GPU are copied to the host for writing and read back identical.
TEST(CheckpointGpu, WritesDeviceTensors) {
  REQUIRE_CUDA_DEVICE();
  std::string path = temp_dir("ckpt") + "/device.h5";
  CheckpointModel host_model = tiny_model(true, 31), device_model = host_model;
  for (CheckpointLayer& l : device_model.layers)
    for (NamedTensor& w : l.weights) w.value = to_device(w.value, Device::cuda());
  CheckpointMeta meta = full_meta(true);
  for (NamedTensor& t : meta.optimizer_state) t.value = to_device(t.value, Device::cuda());
  synchronize(Device::cuda());
  write_checkpoint(path, device_model, meta);
  Checkpoint c = read_checkpoint(path);
  expect_same_layers(c.model.layers, host_model.layers);
  ASSERT_TRUE(c.meta.has_value());
  expect_same_meta(*c.meta, full_meta(true));
}
