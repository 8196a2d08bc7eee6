// The hybrid row stage. Per slot: a coefficient arena that rows take space from by an atomic bump
// (a row that finds it full takes the CPU route and the arena grows before the slot's next batch),
// per row what finish_batch needs, a staging buffer for the descriptors, and the output rows.
// On CUDA, finish_batch queues on the context's transfer stream: uploads, IDCT, colour, then -
// after the consumer released the output rows two batches back (event recorded on the main
// stream by begin_batch) - the batched resize and the copies of the CPU rows; the main stream
// waits for the result, so the model's work on batch k overlaps the uploads and kernels of k+1.
#include "io/loader/gpu_row_stage.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/event.h"
#include "engine/log.h"
#include "io/image/jpeg_batch_plan.h"
#include "io/image/jpeg_coefficients.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_idct.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

namespace {

constexpr int64_t kArenaPerRow = int64_t{1} << 20;  // a 4:2:0 photo of ~0.7 megapixels
constexpr int64_t kMaxArena = int64_t{1} << 30;

int64_t align_up(int64_t v) { return jpeg_plan_align(v); }

// Whether the GPU chain takes this file: a JPEG of a layout the kernels reproduce libjpeg on,
// of a size the CPU decoder accepts too (else the CPU route reports it).
bool gpu_layout(const std::vector<uint8_t>& bytes, JpegLayout* layout) {
  if (sniff_image_format(bytes.data(), bytes.size()) != ImageFormat::Jpeg) return false;
  std::string why;
  return read_jpeg_layout(bytes.data(), bytes.size(), layout, &why) && supported_on_gpu(*layout) &&
         check_image_size(layout->width, layout->height).empty();
}

class HybridRowStage : public GpuRowStage {
 public:
  HybridRowStage(const LoaderOptions& opt, Device device, int workers, int64_t arena_bytes);
  ~HybridRowStage() override;

  DecodeResult fill_row(const DataItem& item, Tensor& images, int64_t row, int slot, int worker) override;
  DecodeResult check(const DataItem& item, int worker) override;
  void begin_batch(int slot) override;
  void finish_batch(Batch& batch, int slot) override;
  std::string name() const override {
    return device_.is_cuda() ? "hybrid jpeg on " + device_.str() : "hybrid jpeg on the cpu twins";
  }
  GpuRowCounts counts() const override { return GpuRowCounts{gpu_rows_.load(), cpu_rows_.load(), arena_full_.load()}; }

 private:
  struct Row {
    bool gpu = false;  // entropy-decoded into the arena; else the loader's host row holds it
    JpegLayout layout;
    int64_t coef_at = 0;  // bytes into the arena
    ResizeGeometry geometry;
    std::vector<int32_t> table;
  };
  struct Slot {
    Tensor arena;                    // coefficients (pinned on CUDA)
    std::atomic<int64_t> used{0};    // bytes handed out, may pass the capacity
    std::atomic<int64_t> asked{0};   // bytes the batch's JPEGs needed: the next capacity
    std::vector<Row> rows;
    Tensor staging;                  // descriptors and resize tables (pinned on CUDA)
    Tensor output;                   // (batch_size, S, S, 3) on the device
    StreamEvent released;            // main stream: the consumer is done with the last batch here
    StreamEvent done;                // transfer stream: output written, host buffers read
    bool pending = false;            // `done` recorded and not yet waited for
  };
  struct Worker {
    std::vector<uint8_t> bytes;
    CpuRowScratch cpu;
    ResizePlan plan;
    bool has_plan = false;
    std::vector<uint8_t> coefs;  // check()'s entropy decoding
  };

  bool entropy_decode_row(Worker& w, Slot& s, Row& r);
  Tensor host_buffer(int64_t bytes) const;
  void wait_done(Slot& s);
  Worker& worker_scratch(int worker);

  LoaderOptions opt_;
  Device device_;
  std::vector<Worker> workers_;
  Slot slots_[2];
  std::atomic<int64_t> gpu_rows_{0}, cpu_rows_{0}, arena_full_{0};
};

HybridRowStage::HybridRowStage(const LoaderOptions& opt, Device device, int workers, int64_t arena_bytes)
    : opt_(opt), device_(device), workers_(static_cast<size_t>(std::max(1, workers))) {
  VGGTL_CHECK(!device.is_cuda() || cuda_available(), "hybrid JPEG stage on ", device.str(),
              " without a usable GPU: ", cuda_runtime_info().unusable_reason);
  VGGTL_CHECK(opt.dtype == DType::F32 || opt.dtype == DType::BF16, "loader output must be f32 or bf16");
  const int64_t S = opt.image_size;
  const int64_t arena = align_up(arena_bytes > 0 ? arena_bytes : kArenaPerRow * opt.batch_size);
  for (Slot& s : slots_) {
    s.arena = host_buffer(arena);
    s.rows.resize(static_cast<size_t>(opt.batch_size));
    // On the main stream's pool: freed there, a block is reused only after the consumer's reads.
    s.output = Tensor::empty(Shape{opt.batch_size, S, S, 3}, opt.dtype, device_);
    s.released = StreamEvent(device_);
    s.done = StreamEvent(device_);
  }
}

HybridRowStage::~HybridRowStage() {
  for (Slot& s : slots_) {
    try {
      wait_done(s);  // the arena and the loader's host rows may still be read by copies
    } catch (const Error& e) {  // a failed device reads nothing any more
      log_warning(std::string("JPEG stage teardown: ") + e.what());
    }
  }
}

Tensor HybridRowStage::host_buffer(int64_t bytes) const {
  return device_.is_cuda() ? Tensor::empty_pinned(Shape{bytes}, DType::U8) : Tensor::empty(Shape{bytes}, DType::U8);
}

void HybridRowStage::wait_done(Slot& s) {
  if (s.pending) {
    s.pending = false;
    s.done.host_wait();
  }
}

HybridRowStage::Worker& HybridRowStage::worker_scratch(int worker) {
  VGGTL_CHECK(worker >= 0 && static_cast<size_t>(worker) < workers_.size(), "hybrid JPEG stage made for ",
              workers_.size(), " workers called by worker ", worker);
  return workers_[static_cast<size_t>(worker)];
}

bool HybridRowStage::entropy_decode_row(Worker& w, Slot& s, Row& r) {
  JpegLayout l;
  if (!gpu_layout(w.bytes, &l)) return false;
  const int64_t bytes = align_up(l.num_coefficients * 2);
  s.asked.fetch_add(bytes, std::memory_order_relaxed);
  const int64_t at = s.used.fetch_add(bytes, std::memory_order_relaxed);
  if (at + bytes > static_cast<int64_t>(s.arena.nbytes())) {
    arena_full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::string why;
  if (!read_jpeg_coefficients(w.bytes.data(), w.bytes.size(), &l,
                              reinterpret_cast<int16_t*>(s.arena.data<uint8_t>() + at), l.num_coefficients, &why))
    return false;  // the CPU route decides, and names the problem as the CPU stage does
  const int S = opt_.image_size;
  if (!w.has_plan || w.plan.g.in_h != l.height || w.plan.g.in_w != l.width) {
    w.plan = make_resize_plan(l.height, l.width, S, S, opt_.filter);
    w.has_plan = true;
  }
  r.layout = l;
  r.coef_at = at;
  r.geometry = w.plan.g;
  r.table.assign(w.plan.table.begin(), w.plan.table.end());
  r.gpu = true;
  return true;
}

DecodeResult HybridRowStage::fill_row(const DataItem& item, Tensor& images, int64_t row, int slot, int worker) {
  Worker& w = worker_scratch(worker);
  Slot& s = slots_[slot];
  Row& r = s.rows[static_cast<size_t>(row)];
  r.gpu = false;
  DecodeResult res = read_file_bytes(item.path, &w.bytes);
  if (res) {
    if (entropy_decode_row(w, s, r))
      res = DecodeResult::success(ImageFormat::Jpeg);
    else
      res = decode_row_cpu(w.bytes.data(), w.bytes.size(), opt_, &w.cpu, images, row);
  }
  (r.gpu ? gpu_rows_ : cpu_rows_).fetch_add(1, std::memory_order_relaxed);
  release_if_huge(&w.bytes);
  release_if_huge(&w.cpu.image.pixels);
  return res;
}

DecodeResult HybridRowStage::check(const DataItem& item, int worker) {
  Worker& w = worker_scratch(worker);
  DecodeResult res = read_file_bytes(item.path, &w.bytes);
  if (res) {
    // Entropy decoding alone is the GPU route's verdict; a failure there is the CPU route's.
    JpegLayout l;
    std::string why;
    bool ok = false;
    if (gpu_layout(w.bytes, &l)) {
      w.coefs.resize(static_cast<size_t>(l.num_coefficients) * 2);
      ok = read_jpeg_coefficients(w.bytes.data(), w.bytes.size(), &l, reinterpret_cast<int16_t*>(w.coefs.data()),
                                  l.num_coefficients, &why);
    }
    res = ok ? DecodeResult::success(ImageFormat::Jpeg) : decode_image(w.bytes.data(), w.bytes.size(), &w.cpu.image);
  }
  release_if_huge(&w.bytes);
  release_if_huge(&w.coefs);
  release_if_huge(&w.cpu.image.pixels);
  return res;
}

void HybridRowStage::begin_batch(int slot) {
  Slot& s = slots_[slot];
  wait_done(s);  // the uploads of the last batch here are over: arena, staging, host rows free
  if (device_.is_cuda()) s.released.record(main_stream(device_));
  const int64_t asked = s.asked.load(), capacity = static_cast<int64_t>(s.arena.nbytes());
  if (asked > capacity && capacity < kMaxArena) s.arena = host_buffer(align_up(std::min(kMaxArena, asked + asked / 4)));
  s.used = 0;
  s.asked = 0;
}

void HybridRowStage::finish_batch(Batch& batch, int slot) {
  Slot& s = slots_[slot];
  const int64_t n = batch.size(), row_elems = int64_t{opt_.image_size} * opt_.image_size * 3;
  auto on_gpu = [&](int64_t r) { return batch.ok[static_cast<size_t>(r)] && s.rows[static_cast<size_t>(r)].gpu; };

  // Descriptors: [quant | IDCT planes | colour images | resize items | resize tables], aligned.
  int num_planes = 0, m = 0;
  int64_t table_len = 0, coef_end = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (!on_gpu(r)) continue;
    const Row& row = s.rows[static_cast<size_t>(r)];
    num_planes += row.layout.num_components;
    table_len += static_cast<int64_t>(row.table.size());
    coef_end = std::max(coef_end, row.coef_at + align_up(row.layout.num_coefficients * 2));
    ++m;
  }
  const int64_t planes_at = align_up(int64_t{num_planes} * 64 * 2);
  const int64_t images_at = planes_at + align_up(num_planes * int64_t{sizeof(JpegIdctPlane)});
  const int64_t items_at = images_at + align_up(m * int64_t{sizeof(JpegColorImage)});
  const int64_t tables_at = items_at + align_up(m * int64_t{sizeof(ResizeBatchItem)});
  const int64_t desc_bytes = std::max(kJpegPlanAlign, tables_at + align_up(table_len * 4));
  if (!s.staging.defined() || static_cast<int64_t>(s.staging.nbytes()) < desc_bytes)
    s.staging = host_buffer(align_up(desc_bytes + desc_bytes / 4));
  uint8_t* h = s.staging.data<uint8_t>();
  auto* quant = reinterpret_cast<uint16_t*>(h);
  auto* planes = reinterpret_cast<JpegIdctPlane*>(h + planes_at);
  auto* images = reinterpret_cast<JpegColorImage*>(h + images_at);
  auto* items = reinterpret_cast<ResizeBatchItem*>(h + items_at);
  auto* tables = reinterpret_cast<int32_t*>(h + tables_at);
  int64_t plane_bytes = 0, rgb_bytes = 0;
  for (int64_t r = 0, j = 0, p = 0, t = 0; r < n; ++r) {
    if (!on_gpu(r)) continue;
    const Row& row = s.rows[static_cast<size_t>(r)];
    describe_jpeg(row.layout, row.coef_at / 2, static_cast<int>(p), planes, quant, &images[j], &plane_bytes,
                  &rgb_bytes);
    p += row.layout.num_components;
    ResizeBatchItem it;
    it.g = row.geometry;
    it.in_offset = images[j].out_offset;
    it.out_offset = r * row_elems;
    it.table_offset = t;
    items[j++] = it;
    std::memcpy(tables + t, row.table.data(), row.table.size() * sizeof(int32_t));
    t += static_cast<int64_t>(row.table.size());
  }
  const int64_t idct_ctas = jpeg_idct_plan(planes, num_planes);
  const int64_t color_ctas = jpeg_color_plan(images, m);
  const ResizeBatchGrid grid = resize_batch_plan(items, m);

  // The kernels read the uploads on CUDA, the host buffers themselves on the CPU twins.
  const bool cuda = device_.is_cuda();
  const Stream ts = cuda ? Context::get(device_).transfer_stream() : nullptr;
  Tensor coefs = s.arena, desc = s.staging;
  if (cuda && m > 0) {
    coefs = Tensor::empty(Shape{coef_end}, DType::U8, device_, ts);
    copy(coefs, s.arena.view(0, Shape{coef_end}), ts);
    desc = Tensor::empty(Shape{desc_bytes}, DType::U8, device_, ts);
    copy(desc, s.staging.view(0, Shape{desc_bytes}), ts);
  }
  const uint8_t* d = desc.data<uint8_t>();
  Tensor rgb, tmp;
  if (m > 0) {
    Tensor plane_out = Tensor::empty(Shape{plane_bytes}, DType::U8, device_, ts);
    rgb = Tensor::empty(Shape{rgb_bytes}, DType::U8, device_, ts);
    if (cuda && grid.tmp_bytes > 0) tmp = Tensor::empty(Shape{grid.tmp_bytes}, DType::U8, device_, ts);
    jpeg_idct(device_, plane_out.data<uint8_t>(), reinterpret_cast<const int16_t*>(coefs.data<uint8_t>()),
              reinterpret_cast<const uint16_t*>(d), reinterpret_cast<const JpegIdctPlane*>(d + planes_at), num_planes,
              idct_ctas, ts);
    jpeg_color(device_, rgb.data<uint8_t>(), plane_out.data<uint8_t>(),
               reinterpret_cast<const JpegColorImage*>(d + images_at), m, color_ctas, ts);
  }
  if (cuda) s.released.make_wait(ts);  // output rows two batches back are read
  if (m > 0)
    resize_preprocess_batch(device_, opt_.dtype, s.output.raw(), tmp.defined() ? tmp.data<uint8_t>() : nullptr,
                            rgb.data<uint8_t>(), reinterpret_cast<const int32_t*>(d + tables_at),
                            reinterpret_cast<const ResizeBatchItem*>(d + items_at), m, grid, opt_.transform, ts);
  // Rows decoded on the CPU, and bad rows (zero on the host), in runs of consecutive rows.
  for (int64_t r = 0; r < n;) {
    if (on_gpu(r)) {
      ++r;
      continue;
    }
    int64_t e = r + 1;
    while (e < n && !on_gpu(e)) ++e;
    Tensor dst = s.output.slice(r, e);
    copy(dst, batch.images.slice(r, e), ts);
    r = e;
  }
  if (cuda) {
    s.done.record(ts);
    s.pending = true;
    s.done.make_wait(main_stream(device_));
  }
  batch.device_images = s.output.slice(0, n);
  // The temporaries go back to the transfer stream's pool: reuse there is ordered after these.
}

}  // namespace

std::unique_ptr<GpuRowStage> make_gpu_row_stage(const LoaderOptions& opt, Device device, int workers,
                                                int64_t arena_bytes) {
  return std::make_unique<HybridRowStage>(opt, device, workers, arena_bytes);
}

}  // namespace vggtl
