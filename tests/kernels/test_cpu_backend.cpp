// The CPU backend's one-image-per-thread loop: which images run one per thread, that every index
// runs exactly once on as many threads as asked, and that a failure inside the parallel region
// comes out of it as the exception thrown.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu_backend.h"

namespace vggtl {
namespace {

TEST(CpuBackend, ImagesOnePerThreadKeepsWholeRoundsAndABusyLastOne) {
  // (n, threads) -> images one per thread; the rest run on all threads one after another.
  struct Case {
    int64_t n;
    int threads;
    int64_t want;
  };
  const Case cases[] = {
      {1, 2, 0},  {2, 2, 2},   {3, 2, 2},   {7, 2, 6},   {8, 2, 8},    // half of two idle: the rest alone
      {5, 4, 4},  {7, 4, 7},   {6, 4, 4},   {3, 4, 3},   {2, 4, 0},    // 3 of 4 busy: more than half
      {30, 16, 30}, {17, 16, 16}, {0, 4, 0}, {9, 1, 0}, {9, 0, 0}};  // one thread: nothing to share
  for (const Case& c : cases)
    EXPECT_EQ(images_one_per_thread(c.n, c.threads), c.want) << c.n << " images, " << c.threads << " threads";
}

TEST(CpuBackend, EveryImageRunsOnceAndFailuresComeOut) {
  for (int threads : {1, 2, 3, 8}) {
    constexpr int64_t kCount = 37;
    std::vector<std::atomic<int>> runs(kCount);
    std::mutex mutex;
    std::set<std::thread::id> ids;
    for_each_image_on_threads(kCount, threads, [&](int64_t i) {
      runs[static_cast<size_t>(i)]++;
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
    for (int64_t i = 0; i < kCount; ++i) EXPECT_EQ(runs[static_cast<size_t>(i)].load(), 1) << i;
    EXPECT_LE(ids.size(), static_cast<size_t>(std::max(threads, 1)));
    if (threads < 2) {
      EXPECT_EQ(ids.count(std::this_thread::get_id()), 1u);
    }

    // A failure comes out as thrown, and stops the loop: the indices not started are skipped.
    std::atomic<int> done{0};
    try {
      for_each_image_on_threads(kCount, threads, [&](int64_t i) {
        if (i == 11) throw std::runtime_error("image 11 is broken");
        done++;
      });
      ADD_FAILURE() << "no exception came out";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "image 11 is broken");
    }
    if (threads < 2) {
      EXPECT_EQ(done.load(), 11);
    } else {
      EXPECT_LE(done.load(), kCount - 1);  // how many others ran first is the scheduler's choice
    }
  }
  EXPECT_GE(cpu_team_threads(), 1);
}

}  // namespace
}  // namespace vggtl
