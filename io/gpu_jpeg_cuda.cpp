// CUDA events that tell GpuJpegBatch (and the loader's GPU row stage) when a staging buffer's
// upload is done and it may be refilled, and that order work between streams.
#include "engine/cuda_check.h"
#include "io/gpu_jpeg.h"

namespace vggtl::gpu_jpeg_detail {

void* event_create() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void event_destroy(void* event) {
  if (event) CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(event)));  // called from a destructor
}

void event_record(void* event, Stream stream) {
  CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), stream));
}

void event_wait(void* event) { CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event))); }

void stream_wait(Stream stream, void* event) {
  CUDA_CHECK(cudaStreamWaitEvent(stream, static_cast<cudaEvent_t>(event), 0));
}

}  // namespace vggtl::gpu_jpeg_detail
