// StreamEvent in a build without CUDA: every event is empty (engine/event_cuda.cpp otherwise).
#include "engine/event.h"

#include <utility>

#include "engine/error.h"

namespace vggtl {

StreamEvent& StreamEvent::operator=(StreamEvent&& o) noexcept {
  StreamEvent old(std::move(*this));
  std::swap(event_, o.event_);
  return *this;
}

#if !VGGTL_HAVE_CUDA
StreamEvent::StreamEvent(Device device) {
  VGGTL_CHECK(device.is_cpu(), "this build has no CUDA backend, cannot use ", device.str());
}
StreamEvent::~StreamEvent() = default;
void StreamEvent::record(Stream) {}
void StreamEvent::host_wait() const {}
void StreamEvent::make_wait(Stream) const {}
#endif

}  // namespace vggtl
