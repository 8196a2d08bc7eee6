// File I/O at VGG16 sizes: reading the 13 conv layers (58.9 MB, as in the notop download),
// writing self-contained and head-only checkpoints atomically (fsync included), SHA-256 of the
// weights file, and writing / reading 7x7x512 features. CPU only; files go to the system's
// temporary folder and are removed afterwards. Disk-bound: compare ratios, not absolutes.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "bench_harness.h"
#include "engine/tensor.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/features_file.h"
#include "io/hdf5/keras_weights.h"
#include "io/sha256.h"

using namespace vggtl;

namespace {

Tensor filled(const Shape& s, float v) {
  Tensor t = Tensor::empty(s, DType::F32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = v + static_cast<float>(i % 97) * 1e-3f;
  return t;
}

// input, 13 convs, 5 pools, and the tutorial's head.
CheckpointModel vgg16_model(bool with_base) {
  const int64_t widths[5] = {64, 128, 256, 512, 512};
  const int convs[5] = {2, 2, 3, 3, 3};
  CheckpointModel m;
  m.model_config = "{}";
  m.layers.push_back({"input_1", "InputLayer", {}});
  int64_t cin = 3;
  for (int b = 0; b < 5; ++b) {
    for (int c = 0; c < convs[b]; ++c) {
      std::string name = "block" + std::to_string(b + 1) + "_conv" + std::to_string(c + 1);
      CheckpointLayer l{name, "Conv2D", {}};
      if (with_base)
        l.weights = {{name + "/kernel:0", filled({3, 3, cin, widths[b]}, 0.1f)},
                     {name + "/bias:0", filled({widths[b]}, 0.2f)}};
      m.layers.push_back(l);
      cin = widths[b];
    }
    m.layers.push_back({"block" + std::to_string(b + 1) + "_pool", "MaxPooling2D", {}});
  }
  m.layers.push_back({"flatten", "Flatten", {}});
  m.layers.push_back({"FC_2", "Dense", {{"FC_2/kernel:0", filled({25088, 64}, 0.3f)},
                                         {"FC_2/bias:0", filled({64}, 0.f)}}});
  m.layers.push_back({"softmax", "Dense", {{"softmax/kernel:0", filled({64, 2}, 0.f)},
                                            {"softmax/bias:0", filled({2}, 0.f)}}});
  return m;
}

int64_t file_bytes(const std::string& p) { return static_cast<int64_t>(std::filesystem::file_size(p)); }

}  // namespace

int main(int argc, char** argv) {
  bench::Options opt = bench::parse_options(argc, argv);
  if (!opt.cpu) return 0;
  opt.reps = opt.quick ? 2 : std::min(opt.reps, 5);
  opt.warmup = 1;
  const Device cpu = Device::cpu();
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vggtl_bench_io_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string full = (dir / "best.h5").string(), head = (dir / "last.h5").string();

  CheckpointModel model = vgg16_model(true), head_model = vgg16_model(false);
  CheckpointMeta meta;
  double ms = bench::median_ms(cpu, [&] { write_checkpoint(full, model, meta); }, opt);
  bench::report("write_checkpoint self-contained", cpu, ms, static_cast<double>(file_bytes(full)), 0,
                "atomic, fsync");
  ms = bench::median_ms(cpu, [&] { write_checkpoint(head, head_model, meta); }, opt);
  bench::report("write_checkpoint head-only", cpu, ms, static_cast<double>(file_bytes(head)), 0,
                "atomic, fsync");

  std::vector<ExpectedLayer> convs;
  for (const CheckpointLayer& l : model.layers)
    if (l.class_name == "Conv2D")
      convs.push_back({l.name, {l.weights[0].value.shape(), l.weights[1].value.shape()}, {}});
  ms = bench::median_ms(cpu, [&] { load_keras_weights(full, convs); }, opt);
  bench::report("load_keras_weights 13 convs", cpu, ms, 14714688.0 * 4, 0, "page cache warm");
  ms = bench::median_ms(cpu, [&] { read_checkpoint(full); }, opt);
  bench::report("read_checkpoint self-contained", cpu, ms, static_cast<double>(file_bytes(full)), 0);
  ms = bench::median_ms(cpu, [&] { sha256_file(full); }, opt);
  bench::report("sha256_file", cpu, ms, static_cast<double>(file_bytes(full)), 0);

  const int64_t rows = opt.quick ? 60 : 451, batch = 30;
  const std::string feat = (dir / "features.h5").string();
  Tensor batch_features = filled({batch, 7, 7, 512}, 0.5f);
  std::vector<int32_t> labels(batch, 1);
  std::vector<std::string> paths(batch, "dog/dog.1234.jpg");
  ms = bench::median_ms(cpu, [&] {
    FeaturesWriter w(feat, {{7, 7, 512}, {"cat", "dog"}, {}});
    for (int64_t r = 0; r < rows; r += batch) {
      int64_t n = std::min(batch, rows - r);
      w.append(batch_features.slice(0, n), std::vector<int32_t>(labels.begin(), labels.begin() + n),
               std::vector<std::string>(paths.begin(), paths.begin() + n));
    }
    w.commit();
  }, opt);
  const double feat_bytes = static_cast<double>(rows) * 7 * 7 * 512 * 4;
  bench::report("FeaturesWriter " + std::to_string(rows) + " rows 7x7x512", cpu, ms, feat_bytes, 0,
                "batches of 30, atomic");
  ms = bench::median_ms(cpu, [&] { FeaturesReader(feat).read_all(); }, opt);
  bench::report("FeaturesReader read_all", cpu, ms, feat_bytes, 0);

  fs::remove_all(dir);
  return 0;
}
