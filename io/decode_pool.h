// A fixed pool of std::threads for image decoding (entropy decoding for the GPU path, full
// decodes for the CPU path): parallel_for hands out indices one at a time, so slow files do not
// hold up a whole share. Tested by tests/io/test_gpu_jpeg.cpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vggtl {

class DecodePool {
 public:
  // `workers` threads do the work, the caller of parallel_for being one of them; 0 means one
  // per hardware thread. workers == 1 runs everything on the calling thread.
  explicit DecodePool(int workers);
  ~DecodePool();
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()) + 1; }

  // Calls fn(i) once for every i in [0, n) and returns when all calls have returned. The first
  // exception thrown by fn is rethrown here (the remaining indices are skipped). One
  // parallel_for at a time: concurrent callers are serialised, so fn must not call
  // parallel_for on the same pool (it would wait for itself).
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop();
  void run_share();

  std::vector<std::thread> threads_;
  std::mutex call_mutex_;  // serialises parallel_for
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

}  // namespace vggtl
