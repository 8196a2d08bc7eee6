// Base forward over a loader. A batch the loader built on the device (Batch::device_images) is
// used there; otherwise each batch is copied from the loader's pinned buffer to the device and
// the stream is synchronised before the loader reuses that buffer.
#include "apps/common/features.h"

#include <cstring>

#include "apps/common/progress.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/loader/shuffle.h"
#include "kernels/convert.h"
#include "kernels/gather_rows.h"

namespace vggtl {

void report_bad_files(const std::vector<BadFile>& bad, std::vector<BadFileRecord>* records) {
  for (const BadFile& b : bad) {
    log_warning_counted("bad file", b.path + ": " + b.reason + " (skipped)");
    if (records) records->push_back(BadFileRecord{b.path, b.reason});
  }
  log_flush_counted_warnings();
}

std::vector<int32_t> good_labels(const Batch& batch) {
  std::vector<int32_t> out;
  for (size_t r = 0; r < batch.ok.size(); ++r)
    if (batch.ok[r]) out.push_back(batch.labels[r]);
  return out;
}

namespace {

std::vector<int32_t> good_rows(const Batch& batch) {
  std::vector<int32_t> rows;
  for (size_t r = 0; r < batch.ok.size(); ++r)
    if (batch.ok[r]) rows.push_back(static_cast<int32_t>(r));
  return rows;
}

// The good rows of a batch built on a device, compacted there with gather_rows.
Tensor device_batch_input(const Batch& batch, Device device) {
  Tensor all = batch.device_images;
  if (all.device() != device) {  // a loader made for another consumer: correct, not fast
    all = to_device(all, device);
    synchronize(all.device());
  }
  if (batch.good() == batch.size()) return all;  // valid until the loader's next batch
  std::vector<int32_t> rows = good_rows(batch);
  std::vector<int64_t> dims = all.shape().vec();
  dims[0] = static_cast<int64_t>(rows.size());
  Tensor x = Tensor::empty(Shape(dims), all.dtype(), device);
  // From pageable memory the index copy completes before it returns (rare: batches with bad files).
  const Tensor index = to_device(Tensor::wrap(rows.data(), {static_cast<int64_t>(rows.size())}, DType::I32), device);
  gather_rows(x, all, index);
  return x;
}

}  // namespace

Tensor batch_input(const Batch& batch, Device device) {
  if (batch.device_images.defined()) return device_batch_input(batch, device);
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
  // Two timers, each read one batch late: reading one waits for its batch's work, and by then
  // the loader has queued the next batch's device decode, which so overlaps this forward.
  GpuTimer timers[2] = {GpuTimer(model.device()), GpuTimer(model.device())};
  bool timed[2] = {false, false};
  auto collect = [&](int t) {
    if (timed[t] && times) times->base_forward += timers[t].milliseconds() * 1e-3;
    timed[t] = false;
  };
  Stopwatch wait;
  int64_t done = 0, number = 0;
  loader.start_epoch(identity_order(loader.size()));
  while (true) {
    wait.reset();
    const Batch* batch = loader.next();
    if (times) times->decode += wait.seconds();
    const int t = static_cast<int>(number++ % 2);
    collect(1 - t);
    if (!batch) break;
    bad.insert(bad.end(), batch->bad.begin(), batch->bad.end());
    std::vector<int64_t> items;
    for (size_t r = 0; r < batch->ok.size(); ++r)
      if (batch->ok[r]) items.push_back(batch->indices[r]);
    done += batch->size();
    if (!items.empty()) {
      Tensor x = batch_input(*batch, model.device());
      GpuTimer& timer = timers[t];
      timer.start();
      Tensor y = model.forward(x, Pass{}, 0, head_start);
      Tensor f = y;
      if (y.dtype() != DType::F32) {
        f = Tensor::empty(y.shape(), DType::F32, model.device());
        convert(f, y);
      }
      sink(f, items, good_labels(*batch));
      timer.stop();
      timed[t] = true;
    }
    bar.update(done);
  }
  collect(0);
  collect(1);
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
