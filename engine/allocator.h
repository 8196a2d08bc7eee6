// Memory: raw sources (aligned host, pinned host, CUDA device) and a caching, stream-ordered
// allocator over any of them. A block freed on stream S returns to S's pool and the next
// request on S may reuse it at once: work queued later on S runs after every earlier use.
// Tested on the CPU with a host source (tests/engine/test_allocator.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "engine/device.h"

namespace vggtl {

// An uncached source of memory. allocate() throws vggtl::Error when it cannot.
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual const char* name() const = 0;
};

std::unique_ptr<RawMemory> make_host_memory(size_t alignment = 64);

struct AllocatorStats {
  size_t requests = 0;         // allocate() calls
  size_t cache_hits = 0;       // served from a pool
  size_t raw_allocations = 0;  // served by the raw source
  size_t bytes_in_use = 0;     // handed out and not yet released (rounded sizes)
  size_t bytes_reserved = 0;   // held from the raw source: in use + cached
  size_t peak_bytes_in_use = 0;
  size_t peak_bytes_reserved = 0;
};

class CachingAllocator {
 public:
  explicit CachingAllocator(std::unique_ptr<RawMemory> raw);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Never returns null; bytes == 0 gets a minimal block. On exhaustion the cache is emptied
  // and the raw source asked once more before giving up.
  void* allocate(size_t bytes, Stream stream = nullptr);
  void release(void* p);
  // Gives every cached (free) block back to the raw source.
  void empty_cache();
  AllocatorStats stats() const;
  void reset_peaks();
  const char* name() const { return raw_->name(); }

  // Size classes: four per power of two above 4 KiB, so reuse wastes at most 25%.
  static size_t round_size(size_t bytes);

 private:
  struct Block {
    size_t size;
    Stream stream;
  };
  void empty_cache_locked();

  std::unique_ptr<RawMemory> raw_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> live_;
  std::multimap<std::pair<Stream, size_t>, void*> free_;
  AllocatorStats stats_;
};

// Process-wide allocators, created on first use.
CachingAllocator& host_allocator();
CachingAllocator& pinned_allocator();  // page-locked when a GPU is usable, else plain host
CachingAllocator& cuda_allocator(int device);  // throws in a build without CUDA

}  // namespace vggtl
