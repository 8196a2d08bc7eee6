// Shared test helpers: GPU skips, deterministic random data, and comparisons that report the
// worst element. Tolerances are stated by each test, never here.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

// Skips the current test, with the reason in the output, when no usable GPU is present.
#define REQUIRE_CUDA_DEVICE()                                                            \
  do {                                                                                   \
    if (!::vggtl::cuda_available())                                                      \
      GTEST_SKIP() << "needs a CUDA device: " << ::vggtl::cuda_runtime_info().unusable_reason; \
  } while (0)

// For a cross-check whose tools are missing (python3, h5py, Pillow, numpy): skips with the reason
// on a developer's machine, but fails under CI ($CI set and non-empty), where a skipped
// cross-check would pass unnoticed. `why` is a std::string or a string literal.
#define SKIP_OR_FAIL_IN_CI(why)                                                  \
  do {                                                                           \
    const std::string vggtl_why_ = (why);                                        \
    if (::vggtl::test::in_ci())                                                  \
      FAIL() << "CI is set, so a missing cross-check tool fails: " << vggtl_why_; \
    GTEST_SKIP() << vggtl_why_;                                                  \
  } while (0)

namespace vggtl::test {

// Fills output buffers before a kernel writes them, so that bytes it skips show.
constexpr uint8_t kPoison = 0xCD;

// Uniform values in [lo, hi) from a fixed seed.
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f);
std::vector<double> random_doubles(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);

struct Comparison {
  double max_abs_error = 0;     // largest |actual - expected| over the finite pairs
  int64_t worst_index = -1;     // where it is (or the first non-finite element)
  double expected_norm = 0;     // L2 norm of expected, for relative tolerances
  int64_t nonfinite_count = 0;  // elements where either side is NaN or infinite (never pass)
  std::string str() const;
};

Comparison compare(const float* actual, const float* expected, int64_t n);
Comparison compare(const float* actual, const double* expected, int64_t n);
Comparison compare(const double* actual, const double* expected, int64_t n);

// max |a - e| <= abs_tolerance, and no NaN or infinity on either side.
::testing::AssertionResult within(const Comparison& c, double abs_tolerance);
// max |a - e| <= rel * ||e||_2 / sqrt(n) (relative to the RMS of the expected values).
::testing::AssertionResult within_rms(const Comparison& c, int64_t n, double rel);

// The larger of two errors, NaN when either is NaN: for worst-error loops, where std::max and
// std::fmax would drop a NaN and let the EXPECT_LT / EXPECT_LE that follows pass.
inline double worst_error(double worst, double error) {
  return std::isnan(worst) || std::isnan(error) ? NAN : std::max(worst, error);
}

// The largest |v[i]|, NaN when any element is NaN (the scale of a relative error, which then fails).
inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = worst_error(m, std::abs(e));
  return m;
}

// Largest |numeric - analytic| over the largest |analytic| (at least 1e-3, so that all-zero
// gradients are compared absolutely). Infinite when either side holds a NaN or an infinity or
// the sizes differ, so that a broken gradient never passes EXPECT_LT(relative_error(...), tol).
inline double relative_error(const std::vector<double>& numeric,
                             const std::vector<double>& analytic) {
  if (numeric.size() != analytic.size()) return INFINITY;
  double worst = 0, scale = 1e-3;
  for (size_t i = 0; i < analytic.size(); ++i) {
    if (!std::isfinite(numeric[i]) || !std::isfinite(analytic[i])) return INFINITY;
    worst = std::max(worst, std::fabs(numeric[i] - analytic[i]));
    scale = std::max(scale, std::fabs(analytic[i]));
  }
  return worst / scale;
}

// Central differences of f() with respect to each of n values at v: (f(v+h) - f(v-h)) / 2h.
template <typename F>
std::vector<double> numeric_gradient(double* v, int64_t n, F f, double h = 1e-5) {
  std::vector<double> g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double v0 = v[i];
    v[i] = v0 + h;
    const double plus = f();
    v[i] = v0 - h;
    const double minus = f();
    v[i] = v0;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

// Runs f(block, thread) for every thread of a 1-D launch grid, in order: the CPU sweeps that run
// a kernel's per-thread function as the GPU would.
template <typename F>
void sweep_grid(int64_t blocks, int threads, F f) {
  for (int64_t b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) f(static_cast<uint32_t>(b), static_cast<uint32_t>(t));
}

// The order in which sweep_block_phases runs the threads of a block within one phase.
enum class ThreadOrder { Forward, Reversed };

// Runs a block program (kernels/block_phases.h) over a 1-D launch grid of `blocks` thread blocks
// as the GPU may: per block, fresh shared memory filled with 0xff bytes (NaN as a double, so
// reading a slot no earlier phase wrote fails the comparison), then phase 0 by every thread of the
// block, phase 1 by every thread, ...: the loop between phases is the barrier. Results that differ
// between the two thread orders read what another thread writes in the same phase.
template <typename Program>
void sweep_block_phases(const Program& program, int64_t blocks, ThreadOrder order) {
  using Shared = typename Program::Shared;
  constexpr int kThreads = Program::kThreadsX * Program::kThreadsY;
  auto shared = std::make_unique<Shared>();
  for (int64_t b = 0; b < blocks; ++b) {
    std::memset(static_cast<void*>(shared.get()), 0xff, sizeof(Shared));
    for (int phase = 0; phase < Program::kPhases; ++phase) {
      for (int i = 0; i < kThreads; ++i) {
        const int t = order == ThreadOrder::Forward ? i : kThreads - 1 - i;
        program(*shared, phase, b, t % Program::kThreadsX, t / Program::kThreadsX);
      }
    }
  }
}

// How many of v[from ...] no longer hold `poison`'s bits: writes past the end of an output that a
// sweep was given with a poisoned tail.
template <typename T>
int64_t overwritten(const std::vector<T>& v, size_t from, T poison) {
  int64_t count = 0;
  for (size_t i = from; i < v.size(); ++i) count += std::memcmp(&v[i], &poison, sizeof(T)) != 0;
  return count;
}

// Host copy of any tensor (synchronises).
Tensor host_copy(const Tensor& t);
// A device tensor filled with NaN (float) so that unwritten outputs fail comparisons.
Tensor poisoned(const Shape& shape, DType dtype, Device device);

// The Python interpreter for cross-checks: $VGGTL_PYTHON, else python3.
std::string python();
// True when $CI is set and non-empty (as CI services set it): missing tools then fail tests.
bool in_ci();
// Runs a shell command; returns its exit status (-1 when it did not exit) and its output.
int run_command(const std::string& command, std::string* output);

// what() of the exception `fn` throws, or "(no error)".
std::string error_of(const std::function<void()>& fn);
// The same for a reader that must refuse bad input with an InputError: what() of that, any other
// exception as "(not an InputError) <what>", or "(no error)".
std::string input_error_of(const std::function<void()>& fn);
// The names in a folder, sorted.
std::vector<std::string> folder_entries(const std::string& dir);

// Crash-safety probe: a child process calls write(1), write(2), ... without end and reports each
// finished call; after the first, it is killed with SIGKILL `delay_ms` later (so the kill lands
// inside a later write) and reaped. Returns false when the child could not be started.
bool kill_writer_during_write(const std::function<void(int64_t)>& write, double delay_ms);

// A fresh empty directory under the build tree for this test (emptied first; kept afterwards
// so that a failure can be inspected).
std::string temp_dir(const std::string& name);
// For TearDownTestSuite: removes `dir` (a suite's scratch folder of run folders, tens of MB
// each) when the suite passed, and keeps it to look at when it failed.
void remove_if_suite_passed(const std::string& dir);

}  // namespace vggtl::test
