// Caching allocator and the host source. CUDA sources are in allocator_cuda.cpp.
#include "engine/allocator.h"

#include <cstdlib>
#include <vector>

#include "engine/error.h"

namespace vggtl {

namespace {

class HostMemory : public RawMemory {
 public:
  explicit HostMemory(size_t alignment) : alignment_(alignment) {}
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    if (posix_memalign(&p, alignment_, bytes ? bytes : alignment_) != 0 || !p)
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void release(void* p) override { std::free(p); }
  const char* name() const override { return "host"; }

 private:
  size_t alignment_;
};

}  // namespace

std::unique_ptr<RawMemory> make_host_memory(size_t alignment) {
  return std::make_unique<HostMemory>(alignment);
}

CachingAllocator::CachingAllocator(std::unique_ptr<RawMemory> raw) : raw_(std::move(raw)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  empty_cache_locked();
  // Live blocks at exit belong to static tensors; the process is ending, leave them.
}

size_t CachingAllocator::round_size(size_t bytes) {
  const size_t kMin = 512;
  if (bytes <= kMin) return kMin;
  if (bytes <= 4096) return (bytes + kMin - 1) / kMin * kMin;
  size_t pow2 = 4096;
  while (pow2 * 2 < bytes) pow2 *= 2;  // pow2 < bytes <= 2*pow2
  const size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes, Stream stream) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.requests;
  void* p = nullptr;
  auto it = free_.find({stream, size});
  if (it != free_.end()) {
    p = it->second;
    free_.erase(it);
    ++stats_.cache_hits;
  } else {
    try {
      p = raw_->allocate(size);
    } catch (const Error&) {
      empty_cache_locked();
      p = raw_->allocate(size);  // a second failure propagates
    }
    ++stats_.raw_allocations;
    stats_.bytes_reserved += size;
    if (stats_.bytes_reserved > stats_.peak_bytes_reserved)
      stats_.peak_bytes_reserved = stats_.bytes_reserved;
  }
  live_[p] = Block{size, stream};
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return p;
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(p);
  VGGTL_CHECK(it != live_.end(), "release of a pointer the ", raw_->name(), " allocator did not hand out");
  stats_.bytes_in_use -= it->second.size;
  free_.emplace(std::make_pair(it->second.stream, it->second.size), p);
  live_.erase(it);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() {
  for (auto& kv : free_) {
    raw_->release(kv.second);
    stats_.bytes_reserved -= kv.first.second;
  }
  free_.clear();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
  stats_.peak_bytes_reserved = stats_.bytes_reserved;
}

CachingAllocator& host_allocator() {
  static CachingAllocator* a = new CachingAllocator(make_host_memory());  // outlives static tensors
  return *a;
}

#if !VGGTL_HAVE_CUDA
CachingAllocator& pinned_allocator() { return host_allocator(); }
CachingAllocator& cuda_allocator(int device) {
  VGGTL_FAIL("this build has no CUDA backend, cannot allocate on cuda:", device);
}
#endif

}  // namespace vggtl
