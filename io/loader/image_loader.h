// Batches of images for training and evaluation: a pool of worker threads decodes, resizes and
// preprocesses files into two host batch buffers (pinned when a GPU is usable), one being
// filled while the caller uses the other (or, with the hybrid stage, entropy-decodes JPEGs for
// a device that builds the batch). Rows depend only on their file, so the batches are
// the same for any number of workers. A file that fails is flagged and listed, never thrown.
// Layout: images (n, S, S, 3) NHWC f32 or bf16. Tests: tests/io/test_image_loader.cpp.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/tensor.h"
#include "io/loader/dataset.h"
#include "io/image/image_decode.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

// Which row stage decodes: the CPU stage, or the hybrid JPEG stage (entropy decoding on the
// workers, the rest batched on `device`); Auto takes the hybrid one when the batches are
// consumed on a usable CUDA device.
enum class DecodeMode : uint8_t { Auto, Cpu, Gpu };
const char* decode_mode_name(DecodeMode m);  // "auto", "cpu", "gpu" (--decode's words)

struct LoaderOptions {
  int image_size = 224;                            // S >= 32
  ResizeFilter filter = ResizeFilter::Nearest;
  PixelTransform transform = PixelTransform::Caffe;
  DType dtype = DType::F32;                        // F32 or BF16
  int batch_size = 30;
  int workers = 0;                                 // 0: every core
  DecodeMode decode = DecodeMode::Auto;
  Device device = Device::cpu();                   // where the batches are consumed
};

struct BadFile {
  int64_t index = -1;  // into the loader's items
  std::string path;
  std::string reason;
};

struct Batch {
  int64_t number = 0;             // position in the epoch, from 0
  Tensor images;                  // (n, S, S, 3) on the host; a bad row is all zeros. With
                                  // device_images set, only the rows decoded on the CPU are here
  Tensor device_images;           // (n, S, S, 3) built by the hybrid stage on its device (bad rows
                                  // zero), ordered before later work on the device's main stream;
                                  // else empty
  std::vector<int32_t> labels;    // per row
  std::vector<int64_t> indices;   // per row: index into the loader's items
  std::vector<uint8_t> ok;        // per row: 1 decoded, 0 bad file
  std::vector<BadFile> bad;       // the bad rows, in row order

  int64_t size() const { return static_cast<int64_t>(indices.size()); }
  int64_t good() const;
};

// The replaceable per-item stage. fill_row runs on worker threads, several at once, one call
// per row; worker (0..workers-1) names the calling thread for per-thread scratch, slot (0 or 1)
// the batch buffer. A bad file is a failed DecodeResult, never an exception. begin_batch runs
// on the caller's thread before the rows of a new batch in `slot` are queued, when the caller
// is done with the batch that last used the slot (the one two batches back). finish_batch runs
// on the caller's thread once every row of a slot is done: the hybrid stage queues its batch
// work there (io/loader/gpu_row_stage.h). check() gives fill_row's verdict without output.
class RowStage {
 public:
  virtual ~RowStage() = default;
  virtual DecodeResult fill_row(const DataItem& item, Tensor& images, int64_t row, int slot, int worker) = 0;
  virtual DecodeResult check(const DataItem& item, int worker) = 0;
  virtual void begin_batch(int slot) {}
  virtual void finish_batch(Batch& batch, int slot) {}
  virtual std::string name() const { return "custom"; }
};

// Read + decode + resize_preprocess_cpu, with per-worker buffers and resize plans.
std::unique_ptr<RowStage> make_cpu_row_stage(const LoaderOptions& opt, int workers);

// The stage opt.decode and opt.device ask for (DecodeMode::Gpu on the CPU runs the hybrid
// stage's chain on the CPU twins).
std::unique_ptr<RowStage> make_row_stage(const LoaderOptions& opt, int workers);

// The CPU stage's work on one file already in memory, for any stage that sends a row the CPU
// way: decode, then resize + preprocess into row `row` of images. Scratch is per worker.
struct CpuRowScratch {
  RgbImage image;
  ResizePlan plan;
  bool has_plan = false;
};
DecodeResult decode_row_cpu(const uint8_t* data, size_t size, const LoaderOptions& opt, CpuRowScratch* s,
                            Tensor& images, int64_t row);
// Keeps typical photos' buffers for reuse, but does not let one huge image pin memory per worker.
void release_if_huge(std::vector<uint8_t>* buffer);

// Number of batches for n items: ceil(n / batch_size), at most `at_most` when that is > 0
// (--steps-per-epoch, --validation-steps).
int64_t batches_per_epoch(int64_t n, int batch_size, int64_t at_most = 0);

class ImageLoader {
 public:
  // stage == nullptr: make_row_stage(opt). Workers start at once and live as long as the loader.
  ImageLoader(std::vector<DataItem> items, const LoaderOptions& opt, std::unique_ptr<RowStage> stage = nullptr);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }
  int64_t size() const { return static_cast<int64_t>(items_.size()); }
  const std::vector<DataItem>& items() const { return items_; }
  const LoaderOptions& options() const { return opt_; }
  std::string decoder() const { return stage_->name(); }  // e.g. "cpu", "hybrid jpeg on cuda:0"

  // Decodes every item once, in parallel (ending any epoch in progress); returns the bad
  // files in item order, so that --on-bad-file fail can stop before training.
  std::vector<BadFile> scan();

  // Starts an epoch over `order` (indices into items, e.g. shuffle_order()): batches of
  // batch_size, the last one partial, at most max_batches of them (-1: all; steps_per_epoch).
  // Decoding of the first two batches starts at once.
  void start_epoch(std::vector<int64_t> order, int64_t max_batches = -1);
  int64_t num_batches() const { return num_batches_; }

  // The next batch, or nullptr after the last one. It stays valid until the next call to
  // next() or start_epoch(); meanwhile the batch after it is being decoded.
  const Batch* next();

 private:
  struct Slot {
    Batch batch;
    Tensor buffer;                     // (batch_size, S, S, 3)
    std::vector<std::string> reasons;  // per row, for bad rows
    int64_t pending = 0;               // row tasks queued or running (guarded by mutex_)
    uint64_t generation = 0;           // bumped to cancel queued rows (guarded by mutex_)
    std::exception_ptr error;          // an internal failure in a row, rethrown by next()
  };

  void worker_main(int worker);
  void submit_batch(int64_t number);
  void cancel_epoch();
  void run_row(int slot, uint64_t generation, int64_t row, int worker);

  std::vector<DataItem> items_;
  LoaderOptions opt_;
  std::unique_ptr<RowStage> stage_;

  std::vector<int64_t> order_;
  int64_t num_batches_ = 0;
  int64_t next_batch_ = 0;  // number of the batch next() returns
  Slot slots_[2];

  std::mutex mutex_;
  std::condition_variable work_cv_;  // workers wait for tasks
  std::condition_variable done_cv_;  // the caller waits for rows
  std::deque<std::function<void(int)>> queue_;  // tasks, run with the worker's number
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vggtl
