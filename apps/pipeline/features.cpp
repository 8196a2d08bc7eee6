// Base forward over a loader. A batch the loader built on the device (Batch::device_images) is
// used there; otherwise each batch is copied from the loader's pinned buffer to the device and
// the stream is synchronised before the loader reuses that buffer. A spilled cache is a raw file
// of rows written with write(2) and read back with pread(2), one row per call.
#include "apps/pipeline/features.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/kept_features.h"
#include "apps/pipeline/progress.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/loader/shuffle.h"
#include "kernels/convert.h"
#include "kernels/gather_rows.h"

namespace vggtl {

class SpillFile {
 public:
  SpillFile(std::string path, int64_t row_bytes, DType dtype)
      : path_(std::move(path)), row_bytes_(row_bytes), dtype_(dtype) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path_ + ": cannot create the feature cache file (" + std::strerror(errno) + ")");
  }
  ~SpillFile() {
    ::close(fd_);
    std::remove(path_.c_str());
  }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  void append(const void* data, int64_t rows) {
    const char* p = static_cast<const char*>(data);
    size_t left = static_cast<size_t>(rows * row_bytes_);
    while (left > 0) {
      const ssize_t w = ::write(fd_, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw Error(path_ + ": cannot write the feature cache (" + std::strerror(errno) + ")");
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  void read_row(int64_t row, void* dst) const {
    char* p = static_cast<char*>(dst);
    size_t left = static_cast<size_t>(row_bytes_);
    off_t at = static_cast<off_t>(row * row_bytes_);
    while (left > 0) {
      const ssize_t r = ::pread(fd_, p, left, at);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) throw Error(path_ + ": cannot read the feature cache back (" + (r < 0 ? std::strerror(errno) : "short file") + ")");
      p += r;
      at += r;
      left -= static_cast<size_t>(r);
    }
  }
  int64_t row_bytes() const { return row_bytes_; }
  DType dtype() const { return dtype_; }

 private:
  std::string path_;
  int64_t row_bytes_;
  DType dtype_;
  int fd_ = -1;
};

int64_t feature_cache_bytes(const Shape& per_image, int64_t n, DType dtype) {
  return n * per_image.numel() * static_cast<int64_t>(dtype_size(dtype));
}

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
                              StageTimes* times, const std::string& progress_label, int64_t before,
                              BasePass* pass) {
  BasePass own;
  if (!pass) pass = &own;
  std::vector<BadFile>& bad = pass->bad;
  const int64_t total = before + loader.size();
  ProgressBar bar(progress_label, total);
  if (before > 0) bar.update(before);
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
    done += batch->size();
    pass->done = done;
    bar.update(before + done);
    if (interrupt_requested()) {
      bar.clear();
      throw_if_interrupted(progress_label + " (" + std::to_string(before + done) + " of " + std::to_string(total) +
                           " images done)");
    }
  }
  collect(0);
  collect(1);
  return bad;
}

FeatureCache cache_features(Model& model, int head_start, ImageLoader& loader, StageTimes* times,
                            const std::string& progress_label, const CacheStorage& storage) {
  VGGTL_CHECK(storage.dtype == DType::F32 || storage.dtype == DType::F16, "feature cache: f32 or f16, not ",
              dtype_name(storage.dtype));
  FeatureCache cache;
  const Shape per_image = model.output_shape(head_start - 1);
  cache.row_shape = per_image;
  std::vector<int64_t> dims = per_image.vec();
  dims.insert(dims.begin(), loader.size());
  const bool spill = !storage.spill_file.empty();
  Tensor all = spill ? Tensor() : Tensor::empty(Shape(dims), storage.dtype, model.device());
  if (spill) cache.spill = std::make_shared<SpillFile>(storage.spill_file, feature_cache_bytes(per_image, 1, storage.dtype),
                                             storage.dtype);
  Tensor narrow;  // f16 rows of a batch on their way to the spill file
  // Appends rows whose items are indices into loader.items().
  auto append = [&](const Tensor& f, const std::vector<int64_t>& items, const std::vector<int32_t>& labels) {
    if (spill) {
      Tensor src = f;
      if (storage.dtype != DType::F32) {
        narrow = Tensor::empty(f.shape(), storage.dtype, model.device());
        convert(narrow, f);
        src = narrow;
      }
      Tensor host = src;
      if (!src.device().is_cpu()) {
        host = to_device(src, Device::cpu());
        synchronize(model.device());
      }
      cache.spill->append(host.raw(), f.dim(0));
    } else {
      Tensor rows = all.slice(cache.size(), cache.size() + f.dim(0));
      if (storage.dtype == DType::F32) copy(rows, f);
      else convert(rows, f);
    }
    cache.items.insert(cache.items.end(), items.begin(), items.end());
    cache.host_labels.insert(cache.host_labels.end(), labels.begin(), labels.end());
  };

  // Rows kept by an interrupted run of this job come first; the base runs over the rest.
  int64_t first = 0;
  const bool keeping = !storage.keep.file.empty();
  if (keeping) {
    if (std::optional<KeptFeatures> kept = read_kept_features(storage.keep, per_image, loader)) {
      const int64_t n = static_cast<int64_t>(kept->items.size());
      const int64_t step = std::max<int64_t>(1, loader.options().batch_size);
      for (int64_t b = 0; b < n; b += step) {
        const int64_t e = std::min(n, b + step);
        Tensor host = kept->rows->read(b, e - b);
        Tensor f = model.device().is_cpu() ? host : to_device(host, model.device());
        append(f, std::vector<int64_t>(kept->items.begin() + b, kept->items.begin() + e),
               std::vector<int32_t>(kept->labels.begin() + b, kept->labels.begin() + e));
        synchronize(model.device());
      }
      cache.bad = kept->bad;
      first = kept->processed;
      log_info(progress_label + ": " + std::to_string(first) + " of " + std::to_string(loader.size()) +
               " images reused from " + kept->path + " (computed before the run was interrupted)");
    }
  }
  std::unique_ptr<ImageLoader> rest;  // the items not kept
  if (first > 0)
    rest = std::make_unique<ImageLoader>(std::vector<DataItem>(loader.items().begin() + first, loader.items().end()),
                                         loader.options());
  BasePass pass;
  auto moved = [first](std::vector<BadFile> bad) {
    for (BadFile& b : bad) b.index += first;
    return bad;
  };
  try {
    if (first < loader.size())
      run_base(model, head_start, rest ? *rest : loader, [&](const Tensor& f, const std::vector<int64_t>& items,
                                                             const std::vector<int32_t>& labels) {
        std::vector<int64_t> at(items);
        for (int64_t& i : at) i += first;
        append(f, at, labels);
      }, times, progress_label, first, &pass);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Interrupted || !keeping || cache.size() == 0) throw;
    const std::vector<BadFile> bad = moved(pass.bad);
    cache.bad.insert(cache.bad.end(), bad.begin(), bad.end());
    if (!spill) cache.features = all.slice(0, cache.size());
    cache.labels = to_device(Tensor::wrap(cache.host_labels.data(), {cache.size()}, DType::I32), model.device());
    synchronize(model.device());
    const int64_t processed = first + pass.done;
    try {
      write_kept_features(storage.keep.file, storage.keep, cache, processed, loader.items());
    } catch (const Error& w) {
      log_warning("the features computed so far could not be kept: " + std::string(w.what()));
      throw e;
    }
    throw Error(std::string(e.what()) + "; the features of " + std::to_string(cache.size()) + " image" +
                    (cache.size() == 1 ? "" : "s") + " are kept in " + storage.keep.file,
                ErrorKind::Interrupted);
  }
  const std::vector<BadFile> bad = moved(pass.bad);
  cache.bad.insert(cache.bad.end(), bad.begin(), bad.end());
  if (!spill) cache.features = all.slice(0, cache.size());
  Tensor labels = Tensor::wrap(cache.host_labels.data(), {cache.size()}, DType::I32);
  cache.labels = to_device(labels, model.device());
  synchronize(model.device());
  return cache;
}

void FeatureCache::gather(Tensor& dst, const Tensor& index_device, const int32_t* index_host) const {
  const int64_t k = dst.dim(0);
  VGGTL_CHECK(dst.dtype() == DType::F32 && dst.device() == labels.device(), "feature cache: gather into ",
              dst.str());
  if (!spill) {
    if (features.dtype() == DType::F32) {
      gather_rows(dst, features, index_device);
      return;
    }
    if (!staging_.defined() || staging_.numel() < dst.numel())
      staging_ = Tensor::empty(dst.shape(), features.dtype(), dst.device());
    Tensor rows = staging_.view(0, dst.shape());
    gather_rows(rows, features, index_device);
    convert(dst, rows);
    return;
  }
  const int64_t row_bytes = spill->row_bytes();
  const DType dtype = spill->dtype();
  Tensor host;
  if (dtype == DType::F32 && dst.device().is_cpu()) {
    host = dst;
  } else {
    if (!host_staging_.defined() || host_staging_.numel() < dst.numel() || host_staging_.dtype() != dtype)
      host_staging_ = Tensor::empty(dst.shape(), dtype, Device::cpu());
    host = host_staging_.view(0, dst.shape());
  }
  for (int64_t r = 0; r < k; ++r)
    spill->read_row(index_host[r], static_cast<char*>(host.raw()) + r * row_bytes);
  if (host.raw() == dst.raw()) return;
  if (dst.device().is_cpu()) {
    convert(dst, host);
    return;
  }
  if (dtype == DType::F32) {
    copy(dst, host);
  } else {
    if (!staging_.defined() || staging_.numel() < dst.numel())
      staging_ = Tensor::empty(dst.shape(), DType::F16, dst.device());
    Tensor rows = staging_.view(0, dst.shape());
    copy(rows, host);
    convert(dst, rows);
  }
  synchronize(dst.device());  // the host rows are refilled by the next call
}

Tensor FeatureCache::rows(int64_t begin, int64_t end, Tensor& scratch) const {
  if (!spill && features.dtype() == DType::F32) return features.slice(begin, end);
  std::vector<int32_t> index(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) index[static_cast<size_t>(i - begin)] = static_cast<int32_t>(i);
  Tensor x = scratch.slice(0, end - begin);
  Tensor index_device;
  if (!spill) {
    index_device = to_device(Tensor::wrap(index.data(), {end - begin}, DType::I32), x.device());
    synchronize(x.device());
  }
  gather(x, index_device, index.data());
  return x;
}

}  // namespace vggtl
