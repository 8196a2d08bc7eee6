// The caching allocator's reuse rules, checked with a counting host source (no GPU needed).
#include <gtest/gtest.h>

#include <map>

#include "engine/allocator.h"
#include "engine/error.h"
#include "test_util.h"

namespace vggtl {

namespace {
// Counts raw allocations and can be told to fail, to exercise the retry path.
class CountingMemory : public RawMemory {
 public:
  explicit CountingMemory(int* allocs, int* releases, size_t* budget)
      : allocs_(allocs), releases_(releases), budget_(budget) {}
  void* allocate(size_t bytes) override {
    if (bytes > *budget_) throw Error("budget exhausted");
    *budget_ -= bytes;
    ++*allocs_;
    void* p = ::operator new(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void release(void* p) override {
    ++*releases_;
    *budget_ += sizes_.at(p);
    sizes_.erase(p);
    ::operator delete(p);
  }
  const char* name() const override { return "counting"; }

 private:
  int* allocs_;
  int* releases_;
  size_t* budget_;
  std::map<void*, size_t> sizes_;
};

Stream fake_stream(uintptr_t id) { return reinterpret_cast<Stream>(id); }
}  // namespace

TEST(CachingAllocator, RoundSizeClassesWasteAtMostAQuarter) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(4096), 4096u);
  EXPECT_EQ(CachingAllocator::round_size(4097), 5120u);
  for (size_t b = 1; b < (size_t{1} << 26); b = b * 3 + 1) {
    const size_t r = CachingAllocator::round_size(b);
    EXPECT_GE(r, b);
    if (b > 4096) {
      EXPECT_LE(static_cast<double>(r), 1.25 * static_cast<double>(b)) << b;
    }
  }
}

TEST(CachingAllocator, ReusesFreedBlockOnSameStreamOnly) {
  int allocs = 0, releases = 0;
  size_t budget = size_t{1} << 30;
  CachingAllocator a(std::make_unique<CountingMemory>(&allocs, &releases, &budget));
  void* p = a.allocate(100000, fake_stream(1));
  a.release(p);
  void* q = a.allocate(99000, fake_stream(1));  // same size class, same stream
  EXPECT_EQ(q, p);
  EXPECT_EQ(allocs, 1);
  a.release(q);
  void* r = a.allocate(100000, fake_stream(2));  // other stream: must not reuse
  EXPECT_NE(r, p);
  EXPECT_EQ(allocs, 2);
  AllocatorStats s = a.stats();
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.raw_allocations, 2u);
  a.release(r);
  a.empty_cache();
  EXPECT_EQ(releases, 2);
  EXPECT_EQ(a.stats().bytes_reserved, 0u);
}

TEST(CachingAllocator, SteadyStateLoopMakesNoRawAllocations) {
  int allocs = 0, releases = 0;
  size_t budget = size_t{1} << 30;
  CachingAllocator a(std::make_unique<CountingMemory>(&allocs, &releases, &budget));
  const size_t sizes[] = {30 * 25088 * 4, 30 * 64 * 4, 30 * 2 * 4, 1605632 * 4};
  for (int step = 0; step < 50; ++step) {
    std::vector<void*> live;
    for (size_t s : sizes) live.push_back(a.allocate(s));
    for (void* p : live) a.release(p);
  }
  EXPECT_EQ(allocs, 4);
  EXPECT_EQ(a.stats().bytes_in_use, 0u);
  EXPECT_GE(a.stats().peak_bytes_in_use, 30u * 25088 * 4);
}

TEST(CachingAllocator, EmptiesCacheAndRetriesWhenSourceIsExhausted) {
  int allocs = 0, releases = 0;
  size_t budget = 3 << 20;
  CachingAllocator a(std::make_unique<CountingMemory>(&allocs, &releases, &budget));
  void* p = a.allocate(2 << 20);
  a.release(p);  // cached: the source still counts it as taken
  EXPECT_EQ(budget, size_t{1} << 20);
  void* q = a.allocate(3 << 20);  // fits only once the cached block is given back
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(releases, 1);
  a.release(q);
  EXPECT_THROW(a.allocate(size_t{1} << 40), Error);
}

TEST(CachingAllocator, ReleasingUnknownPointerIsAnError) {
  int allocs = 0, releases = 0;
  size_t budget = 1 << 20;
  CachingAllocator a(std::make_unique<CountingMemory>(&allocs, &releases, &budget));
  int x = 0;
  EXPECT_THROW(a.release(&x), Error);
}

TEST(AllocatorGpu, DeviceAllocatorCachesBlocks) {
  REQUIRE_CUDA_DEVICE();
  CachingAllocator& a = cuda_allocator(0);
  const AllocatorStats before = a.stats();
  void* p = a.allocate(1 << 20);
  a.release(p);
  void* q = a.allocate(1 << 20);
  a.release(q);
  EXPECT_EQ(p, q);
  EXPECT_LE(a.stats().raw_allocations, before.raw_allocations + 1);
  EXPECT_GE(a.stats().cache_hits, before.cache_hits + 1);
}

}  // namespace vggtl
