// Wall-clock timing (steady clock) and GPU timing (CUDA events on a stream).
#pragma once

#include <chrono>
#include <string>

#include "engine/device.h"

namespace vggtl {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Times work queued on a stream: start() and stop() record events; milliseconds() waits.
// On the CPU (stream == nullptr with no CUDA device) it falls back to the steady clock.
class GpuTimer {
 public:
  explicit GpuTimer(Device device);
  ~GpuTimer();
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;
  void start(Stream stream = nullptr);
  void stop(Stream stream = nullptr);
  double milliseconds();

 private:
  Device device_;
  // CUDA events; unused in a CPU-only build (clang's -Wunused-private-field).
  [[maybe_unused]] void* start_event_ = nullptr;
  [[maybe_unused]] void* stop_event_ = nullptr;
  Stopwatch clock_;
  double cpu_ms_ = 0;
};

}  // namespace vggtl
