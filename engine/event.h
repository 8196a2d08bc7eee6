// An owned CUDA event without timing: orders work queued on one stream after work queued on
// another, and lets the host wait for the work queued before it. Made for a CUDA device only;
// an empty event (default-constructed, or in a CPU-only build) ignores every call, so code that
// runs on either device needs no build guards. Used by the loader's GPU row stage.
#pragma once

#include "engine/device.h"

namespace vggtl {

class StreamEvent {
 public:
  StreamEvent() = default;
  // A new event for work on `device`; empty when the device is the CPU.
  explicit StreamEvent(Device device);
  ~StreamEvent();
  StreamEvent(StreamEvent&& o) noexcept : event_(o.event_) { o.event_ = nullptr; }
  StreamEvent& operator=(StreamEvent&& o) noexcept;
  StreamEvent(const StreamEvent&) = delete;
  StreamEvent& operator=(const StreamEvent&) = delete;

  bool defined() const { return event_ != nullptr; }
  // Marks the point in `stream` reached by the work queued there so far.
  void record(Stream stream);
  // The host waits until that work is done.
  void host_wait() const;
  // Work queued on `stream` from now on starts only after that work is done.
  void make_wait(Stream stream) const;

 private:
  void* event_ = nullptr;  // cudaEvent_t
};

}  // namespace vggtl
