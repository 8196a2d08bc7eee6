// Base forward over a loader. On a GPU each batch is copied from the loader's pinned buffer to
// the device and the stream is synchronised before the loader reuses that buffer.
#include "apps/common/features.h"

#include <cstring>

#include "apps/common/progress.h"
#include "engine/timer.h"
#include "io/shuffle.h"
#include "kernels/convert.h"

namespace vggtl {

std::vector<int32_t> good_labels(const Batch& batch) {
  std::vector<int32_t> out;
  for (size_t r = 0; r < batch.ok.size(); ++r)
    if (batch.ok[r]) out.push_back(batch.labels[r]);
  return out;
}

Tensor batch_input(const Batch& batch, Device device) {
  const int64_t n = batch.size(), good = batch.good();
  Tensor host = batch.images.slice(0, n);
  if (good != n) {  // compact: move the good rows to the front of a fresh host tensor
    std::vector<int64_t> dims = host.shape().vec();
    dims[0] = good;
    Tensor packed = Tensor::empty(Shape(dims), host.dtype());
    const size_t row = n ? host.nbytes() / static_cast<size_t>(n) : 0;
    int64_t k = 0;
    for (int64_t r = 0; r < n; ++r)
      if (batch.ok[static_cast<size_t>(r)])
        std::memcpy(static_cast<char*>(packed.raw()) + row * static_cast<size_t>(k++),
                    static_cast<const char*>(host.raw()) + row * static_cast<size_t>(r), row);
    host = packed;
  }
  if (device.is_cpu()) return host;
  Tensor x = to_device(host, device);
  synchronize(device);  // the loader refills this buffer once we ask for the next batch
  return x;
}

std::vector<BadFile> run_base(Model& model, int head_start, ImageLoader& loader, const FeatureSink& sink,
                              StageTimes* times, const std::string& progress_label) {
  std::vector<BadFile> bad;
  ProgressBar bar(progress_label, loader.size());
  GpuTimer timer(model.device());
  Stopwatch wait;
  int64_t done = 0;
  loader.start_epoch(identity_order(loader.size()));
  while (true) {
    wait.reset();
    const Batch* batch = loader.next();
    if (times) times->decode += wait.seconds();
    if (!batch) break;
    bad.insert(bad.end(), batch->bad.begin(), batch->bad.end());
    std::vector<int64_t> items;
    for (size_t r = 0; r < batch->ok.size(); ++r)
      if (batch->ok[r]) items.push_back(batch->indices[r]);
    done += batch->size();
    if (!items.empty()) {
      Tensor x = batch_input(*batch, model.device());
      timer.start();
      Tensor y = model.forward(x, Pass{}, 0, head_start);
      Tensor f = y;
      if (y.dtype() != DType::F32) {
        f = Tensor::empty(y.shape(), DType::F32, model.device());
        convert(f, y);
      }
      sink(f, items, good_labels(*batch));
      timer.stop();
      if (times) times->base_forward += timer.milliseconds() * 1e-3;
    }
    bar.update(done);
  }
  return bad;
}

FeatureCache cache_features(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                            const std::string& progress_label) {
  FeatureCache cache;
  const Shape per_image = model.output_shape(head_start - 1);
  std::vector<int64_t> dims = per_image.vec();
  dims.insert(dims.begin(), loader.size());
  Tensor all = Tensor::empty(Shape(dims), DType::F32, model.device());
  cache.bad = run_base(model, head_start, loader, [&](const Tensor& f, const std::vector<int64_t>& items,
                                                      const std::vector<int32_t>& labels) {
    Tensor rows = all.slice(cache.size(), cache.size() + f.dim(0));
    copy(rows, f);
    cache.items.insert(cache.items.end(), items.begin(), items.end());
    cache.host_labels.insert(cache.host_labels.end(), labels.begin(), labels.end());
  }, times, progress_label);
  cache.features = all.slice(0, cache.size());
  Tensor labels = Tensor::wrap(cache.host_labels.data(), {cache.size()}, DType::I32);
  cache.labels = to_device(labels, model.device());
  synchronize(model.device());
  return cache;
}

}  // namespace vggtl
