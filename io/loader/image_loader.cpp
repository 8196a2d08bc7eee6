// The batch loader: worker pool, double-buffered batches, scan, and the CPU row stage.
// Synchronisation: one mutex guards the task queue and each slot's pending count and
// generation; a row's outputs (its tensor row, ok flag and reason) are written only by the
// task that owns the row and published to the caller by the pending decrement.
#include "io/loader/image_loader.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <system_error>

#include "engine/error.h"
#include "io/loader/gpu_row_stage.h"

namespace vggtl {

int64_t Batch::good() const { return std::count(ok.begin(), ok.end(), uint8_t{1}); }

int64_t batches_per_epoch(int64_t n, int batch_size, int64_t at_most) {
  VGGTL_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
  const int64_t all = (n + batch_size - 1) / batch_size;
  return at_most > 0 ? std::min(all, at_most) : all;
}

namespace {

size_t row_bytes(const LoaderOptions& opt) {
  return static_cast<size_t>(opt.image_size) * opt.image_size * 3 * dtype_size(opt.dtype);
}

class CpuRowStage : public RowStage {
 public:
  CpuRowStage(const LoaderOptions& opt, int workers) : opt_(opt), scratch_(static_cast<size_t>(workers)) {}

  DecodeResult fill_row(const DataItem& item, Tensor& images, int64_t row, int slot, int worker) override {
    Scratch& s = scratch_[static_cast<size_t>(worker)];
    DecodeResult r = read_file_bytes(item.path, &s.bytes);
    if (r) r = decode_row_cpu(s.bytes.data(), s.bytes.size(), opt_, &s.cpu, images, row);
    release(&s);
    return r;
  }

  DecodeResult check(const DataItem& item, int worker) override {
    Scratch& s = scratch_[static_cast<size_t>(worker)];
    DecodeResult r = decode_image_file(item.path, &s.cpu.image, &s.bytes);
    release(&s);
    return r;
  }

  std::string name() const override { return "cpu"; }

 private:
  struct Scratch {
    CpuRowScratch cpu;
    std::vector<uint8_t> bytes;
  };

  static void release(Scratch* s) {
    release_if_huge(&s->cpu.image.pixels);
    release_if_huge(&s->bytes);
  }

  LoaderOptions opt_;
  std::vector<Scratch> scratch_;
};

}  // namespace

const char* decode_mode_name(DecodeMode m) {
  switch (m) {
    case DecodeMode::Cpu: return "cpu";
    case DecodeMode::Gpu: return "gpu";
    case DecodeMode::Auto: break;
  }
  return "auto";
}

void release_if_huge(std::vector<uint8_t>* buffer) {
  constexpr size_t kKeep = size_t{64} << 20;
  if (buffer->capacity() > kKeep) std::vector<uint8_t>().swap(*buffer);
}

DecodeResult decode_row_cpu(const uint8_t* data, size_t size, const LoaderOptions& opt, CpuRowScratch* s,
                            Tensor& images, int64_t row) {
  DecodeResult r = decode_image(data, size, &s->image);
  if (!r) return r;
  const int S = opt.image_size;
  if (!s->has_plan || s->plan.g.in_h != s->image.height || s->plan.g.in_w != s->image.width) {
    s->plan = make_resize_plan(s->image.height, s->image.width, S, S, opt.filter);
    s->has_plan = true;
  }
  const int64_t offset = row * S * S * 3;
  if (images.dtype() == DType::F32)
    resize_preprocess_cpu(images.data<float>() + offset, s->image.pixels.data(), s->plan.table.data(), s->plan.g,
                          opt.transform);
  else
    resize_preprocess_cpu(images.data<bf16>() + offset, s->image.pixels.data(), s->plan.table.data(), s->plan.g,
                          opt.transform);
  return r;
}

std::unique_ptr<RowStage> make_cpu_row_stage(const LoaderOptions& opt, int workers) {
  return std::make_unique<CpuRowStage>(opt, workers);
}

std::unique_ptr<RowStage> make_row_stage(const LoaderOptions& opt, int workers) {
  switch (opt.decode) {
    case DecodeMode::Cpu: return make_cpu_row_stage(opt, workers);
    case DecodeMode::Gpu: return make_gpu_row_stage(opt, opt.device, workers);
    case DecodeMode::Auto: break;
  }
  if (opt.device.is_cuda() && cuda_available()) return make_gpu_row_stage(opt, opt.device, workers);
  return make_cpu_row_stage(opt, workers);
}

ImageLoader::ImageLoader(std::vector<DataItem> items, const LoaderOptions& opt, std::unique_ptr<RowStage> stage)
    : items_(std::move(items)), opt_(opt), stage_(std::move(stage)) {
  VGGTL_CHECK(opt_.image_size >= 32, "image size must be at least 32, got ", opt_.image_size);
  VGGTL_CHECK(opt_.batch_size > 0, "batch size must be positive, got ", opt_.batch_size);
  VGGTL_CHECK(opt_.dtype == DType::F32 || opt_.dtype == DType::BF16, "loader output must be f32 or bf16");
  int workers = opt_.workers;
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!stage_) stage_ = make_row_stage(opt_, workers);
  const int64_t S = opt_.image_size;
  for (Slot& s : slots_) s.buffer = Tensor::empty_pinned(Shape{opt_.batch_size, S, S, 3}, opt_.dtype);
  threads_.reserve(static_cast<size_t>(workers));
  try {
    for (int w = 0; w < workers; ++w) threads_.emplace_back(&ImageLoader::worker_main, this, w);
  } catch (const std::system_error& e) {
    // Without this, the threads already started would be destroyed joinable: std::terminate.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    throw Error("cannot start " + std::to_string(workers) + " image decoding threads (" + e.code().message() +
                "): the process is short of memory or threads (ulimit -v, ulimit -u); raise the limit or lower --workers");
  }
}

ImageLoader::~ImageLoader() {
  cancel_epoch();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  // Before the slot buffers go: a device stage may still be copying from them.
  stage_.reset();
}

void ImageLoader::worker_main(int worker) {
  for (;;) {
    std::function<void(int)> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task(worker);
  }
}

void ImageLoader::run_row(int slot, uint64_t generation, int64_t row, int worker) {
  Slot& s = slots_[slot];
  bool current;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current = s.generation == generation;
  }
  if (current) {
    DecodeResult r;
    std::exception_ptr error;
    try {
      r = stage_->fill_row(items_[static_cast<size_t>(s.batch.indices[row])], s.buffer, row, slot, worker);
    } catch (const std::bad_alloc&) {
      r = DecodeResult::failure(ImageFormat::Unknown, "out of memory while decoding");
    } catch (...) {
      error = std::current_exception();
    }
    if (!r.ok) {
      std::memset(static_cast<uint8_t*>(s.buffer.raw()) + row * row_bytes(opt_), 0, row_bytes(opt_));
      s.reasons[static_cast<size_t>(row)] = r.reason.empty() ? "decoding failed" : r.reason;
    }
    s.batch.ok[static_cast<size_t>(row)] = r.ok ? 1 : 0;
    std::lock_guard<std::mutex> lock(mutex_);
    if (error && !s.error) s.error = error;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (--s.pending == 0) done_cv_.notify_all();
}

void ImageLoader::submit_batch(int64_t number) {
  const int slot = static_cast<int>(number % 2);
  Slot& s = slots_[slot];
  const int64_t first = number * opt_.batch_size;
  const int64_t n = std::min<int64_t>(opt_.batch_size, static_cast<int64_t>(order_.size()) - first);
  Batch& b = s.batch;
  b.number = number;
  b.indices.assign(order_.begin() + first, order_.begin() + first + n);
  b.labels.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) b.labels[static_cast<size_t>(r)] = items_[static_cast<size_t>(b.indices[r])].label;
  b.ok.assign(static_cast<size_t>(n), 0);
  b.bad.clear();
  b.images = s.buffer.slice(0, n);
  b.device_images = Tensor();
  s.reasons.assign(static_cast<size_t>(n), std::string());
  s.error = nullptr;
  stage_->begin_batch(slot);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t generation = s.generation;
    s.pending += n;
    for (int64_t r = 0; r < n; ++r)
      queue_.push_back([this, slot, generation, r](int worker) { run_row(slot, generation, r, worker); });
  }
  work_cv_.notify_all();
}

void ImageLoader::cancel_epoch() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (Slot& s : slots_) ++s.generation;  // queued rows of the old epoch skip their work
  done_cv_.wait(lock, [&] { return slots_[0].pending == 0 && slots_[1].pending == 0; });
}

void ImageLoader::start_epoch(std::vector<int64_t> order, int64_t max_batches) {
  cancel_epoch();
  for (int64_t i : order)
    VGGTL_CHECK(i >= 0 && i < size(), "epoch order holds index ", i, " outside 0..", size() - 1);
  order_ = std::move(order);
  num_batches_ = batches_per_epoch(static_cast<int64_t>(order_.size()), opt_.batch_size);
  if (max_batches >= 0) num_batches_ = std::min(num_batches_, max_batches);
  next_batch_ = 0;
  for (int64_t k = 0; k < std::min<int64_t>(2, num_batches_); ++k) submit_batch(k);
}

const Batch* ImageLoader::next() {
  if (next_batch_ >= num_batches_) return nullptr;
  const int64_t k = next_batch_;
  // The caller is done with batch k-1, so its buffer starts on batch k+1.
  if (k >= 1 && k + 1 < num_batches_) submit_batch(k + 1);
  const int slot = static_cast<int>(k % 2);
  Slot& s = slots_[slot];
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return s.pending == 0; });
  }
  ++next_batch_;
  if (s.error) std::rethrow_exception(s.error);
  Batch& b = s.batch;
  for (size_t r = 0; r < b.ok.size(); ++r)
    if (!b.ok[r]) b.bad.push_back(BadFile{b.indices[r], items_[static_cast<size_t>(b.indices[r])].path, s.reasons[r]});
  stage_->finish_batch(b, slot);
  return &b;
}

std::vector<BadFile> ImageLoader::scan() {
  cancel_epoch();
  num_batches_ = next_batch_ = 0;
  const size_t n = items_.size();
  std::vector<DecodeResult> results(n);
  std::exception_ptr error;
  size_t pending = n;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < n; ++i) {
      queue_.push_back([this, i, &results, &error, &pending](int worker) {
        DecodeResult r;
        std::exception_ptr e;
        try {
          r = stage_->check(items_[i], worker);
        } catch (const std::bad_alloc&) {
          r = DecodeResult::failure(ImageFormat::Unknown, "out of memory while decoding");
        } catch (...) {
          e = std::current_exception();
        }
        results[i] = std::move(r);
        std::lock_guard<std::mutex> task_lock(mutex_);
        if (e && !error) error = e;
        if (--pending == 0) done_cv_.notify_all();
      });
    }
  }
  work_cv_.notify_all();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return pending == 0; });
  }
  if (error) std::rethrow_exception(error);
  std::vector<BadFile> bad;
  for (size_t i = 0; i < n; ++i)
    if (!results[i].ok)
      bad.push_back(BadFile{static_cast<int64_t>(i), items_[i].path,
                            results[i].reason.empty() ? "decoding failed" : results[i].reason});
  return bad;
}

}  // namespace vggtl
