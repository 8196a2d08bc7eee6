// Batch JPEG decoding in two halves: libjpeg-turbo entropy-decodes every file on a DecodePool
// straight into one staging buffer (pinned for a GPU), which goes to the device in one copy; then
// one IDCT launch and one upsample+colour launch decode all images of the batch. Files the GPU
// stages do not cover (CMYK, 12-bit, corrupt, ...) are reported for the CPU decoder.
// On Device::cpu() the same batch runs the CPU twins. Tested by tests/io/test_gpu_jpeg.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/decode_pool.h"
#include "io/jpeg_coefficients.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_idct.h"

namespace vggtl {

struct JpegInput {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

struct GpuJpegItem {
  bool decoded = false;  // false: not decoded here, decode it on the CPU (reason says why)
  std::string reason;
  int width = 0, height = 0;
  int64_t rgb_offset = 0;  // bytes into rgb(): height rows of width*3 interleaved RGB bytes
};

struct GpuJpegTimes {
  double header_ms = 0;   // parsing every header (parallel)
  double entropy_ms = 0;  // entropy decoding into the staging buffer (parallel)
  double submit_ms = 0;   // descriptors, upload and launches (GPU) or the CPU twins (CPU)
};

// Descriptors of one entropy-decoded JPEG for the batch kernels, shared by GpuJpegBatch and the
// loader's GPU row stage: its IDCT planes go to planes[first_plane ..], their quantisation
// tables to quant[64 * plane ..], its colour image to *image. coef_base: int16 elements from the
// batch's first coefficient to this file's; *plane_bytes and *rgb_bytes are the running sizes of
// the batch's IDCT and RGB outputs, advanced past this image (each part 256-byte aligned).
void describe_jpeg(const JpegLayout& l, int64_t coef_base, int first_plane, JpegIdctPlane* planes,
                   uint16_t* quant, JpegColorImage* image, int64_t* plane_bytes, int64_t* rgb_bytes);

// The colour model the colour kernels use for a file's colour space.
JpegColorModel jpeg_color_model(JpegColorSpace cs);

class GpuJpegBatch {
 public:
  // The pool is shared, not owned: the loader's CPU decodes can use the same threads.
  GpuJpegBatch(Device device, DecodePool* pool);
  ~GpuJpegBatch();
  GpuJpegBatch(const GpuJpegBatch&) = delete;
  GpuJpegBatch& operator=(const GpuJpegBatch&) = delete;

  // Decodes the batch. The input bytes need to live only until decode() returns. On CUDA the
  // work is queued on `stream` (nullptr: the device's main stream) and rgb() is valid for work
  // queued after it on that stream; the host side never waits for the GPU, except for the
  // upload two batches back before reusing its staging buffer.
  void decode(const std::vector<JpegInput>& inputs, Stream stream = nullptr);

  const std::vector<GpuJpegItem>& items() const { return items_; }
  // All decoded images, packed (U8 bytes on the batch's device); a fresh tensor per decode().
  const Tensor& rgb() const { return rgb_; }
  // Item i as a (height, width, 3) U8 view of rgb(); item i must be decoded.
  Tensor image(size_t i) const;
  // Indices of the items to decode on the CPU, in input order.
  std::vector<size_t> fallbacks() const;
  const GpuJpegTimes& times() const { return times_; }
  Device device() const { return device_; }

 private:
  struct Staging;
  Staging& next_staging();

  Device device_;
  DecodePool* pool_;
  std::vector<GpuJpegItem> items_;
  std::vector<JpegLayout> layouts_;
  Tensor rgb_;
  GpuJpegTimes times_;
  std::vector<Staging*> staging_;  // two, used alternately, so decoding overlaps the last upload
  size_t next_slot_ = 0;
};

#if VGGTL_HAVE_CUDA
// Events ordering the staging buffers' reuse (io/gpu_jpeg_cuda.cpp); also used by the loader's
// GPU row stage.
namespace gpu_jpeg_detail {
void* event_create();
void event_destroy(void* event);
void event_record(void* event, Stream stream);
void event_wait(void* event);                      // the host waits
void stream_wait(Stream stream, void* event);      // later work on `stream` waits
}  // namespace gpu_jpeg_detail
#endif

}  // namespace vggtl
