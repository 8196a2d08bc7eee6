// GpuTimer: CUDA events when the device is a GPU, the steady clock otherwise.
#include "engine/timer.h"

#include "engine/context.h"
#if VGGTL_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace vggtl {

GpuTimer::GpuTimer(Device device) : device_(device) {
#if VGGTL_HAVE_CUDA
  if (device.is_cuda()) {
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    start_event_ = a;
    stop_event_ = b;
  }
#endif
}

GpuTimer::~GpuTimer() {
#if VGGTL_HAVE_CUDA
  if (start_event_) CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(start_event_)));
  if (stop_event_) CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(stop_event_)));
#endif
}

void GpuTimer::start(Stream stream) {
#if VGGTL_HAVE_CUDA
  if (start_event_) {
    CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(start_event_), stream ? stream : main_stream(device_)));
    return;
  }
#endif
  clock_.reset();
}

void GpuTimer::stop(Stream stream) {
#if VGGTL_HAVE_CUDA
  if (stop_event_) {
    CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(stop_event_), stream ? stream : main_stream(device_)));
    return;
  }
#endif
  cpu_ms_ = clock_.seconds() * 1e3;
}

double GpuTimer::milliseconds() {
#if VGGTL_HAVE_CUDA
  if (stop_event_) {
    CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_event_)));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_event_),
                                    static_cast<cudaEvent_t>(stop_event_)));
    return ms;
  }
#endif
  return cpu_ms_;
}

}  // namespace vggtl
