// StreamEvent on the CUDA runtime.
#include "engine/cuda_check.h"
#include "engine/event.h"

namespace vggtl {

namespace {
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }
}  // namespace

StreamEvent::StreamEvent(Device device) {
  if (!device.is_cuda()) return;
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  event_ = e;
}

StreamEvent::~StreamEvent() {
  if (event_) CUDA_WARN(cudaEventDestroy(as_event(event_)));
}

void StreamEvent::record(Stream stream) {
  if (event_) CUDA_CHECK(cudaEventRecord(as_event(event_), stream));
}

void StreamEvent::host_wait() const {
  if (event_) CUDA_CHECK(cudaEventSynchronize(as_event(event_)));
}

void StreamEvent::make_wait(Stream stream) const {
  if (event_) CUDA_CHECK(cudaStreamWaitEvent(stream, as_event(event_), 0));
}

}  // namespace vggtl
