// Test helpers (see test_util.h).
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vggtl::test {

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<double> random_doubles(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

std::string Comparison::str() const {
  std::ostringstream os;
  if (nonfinite_count)
    os << nonfinite_count << " NaN or infinite, the first at index " << worst_index << "; max abs error "
       << max_abs_error << " elsewhere";
  else
    os << "max abs error " << max_abs_error << " at index " << worst_index << ", expected L2 norm "
       << expected_norm;
  return os.str();
}

namespace {
template <typename A, typename E>
Comparison compare_impl(const A* actual, const E* expected, int64_t n) {
  Comparison c;
  double norm2 = 0;
  int64_t first_nonfinite = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = static_cast<double>(actual[i]);
    const double e = static_cast<double>(expected[i]);
    norm2 += e * e;
    if (!std::isfinite(a) || !std::isfinite(e)) {  // never passes, even NaN against NaN
      if (c.nonfinite_count++ == 0) first_nonfinite = i;
      continue;
    }
    const double d = std::fabs(a - e);
    if (d > c.max_abs_error || c.worst_index < 0) {
      if (d > c.max_abs_error) c.max_abs_error = d;
      c.worst_index = i;
    }
  }
  c.expected_norm = std::sqrt(norm2);
  if (first_nonfinite >= 0) c.worst_index = first_nonfinite;  // what fails the comparison
  return c;
}
}  // namespace

Comparison compare(const float* a, const float* e, int64_t n) { return compare_impl(a, e, n); }
Comparison compare(const float* a, const double* e, int64_t n) { return compare_impl(a, e, n); }
Comparison compare(const double* a, const double* e, int64_t n) { return compare_impl(a, e, n); }

::testing::AssertionResult within(const Comparison& c, double abs_tolerance) {
  if (c.nonfinite_count == 0 && c.max_abs_error <= abs_tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << c.str() << " exceeds tolerance " << abs_tolerance;
}

::testing::AssertionResult within_rms(const Comparison& c, int64_t n, double rel) {
  const double rms = n > 0 ? c.expected_norm / std::sqrt(static_cast<double>(n)) : 0.0;
  return within(c, rel * rms);
}

Tensor host_copy(const Tensor& t) {
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  copy(h, t);
  synchronize(t.device());
  return h;
}

Tensor poisoned(const Shape& shape, DType dtype, Device device) {
  Tensor h = Tensor::empty(shape, dtype);
  if (dtype == DType::F32) {
    float* p = h.data<float>();
    for (int64_t i = 0; i < h.numel(); ++i) p[i] = std::nanf("");
  } else {
    std::memset(h.raw(), 0xff, h.nbytes());  // NaN for bf16/f64 too, -1 for integers
  }
  if (device.is_cpu()) return h;
  Tensor d = to_device(h, device);
  synchronize(device);
  return d;
}

std::string python() {
  const char* p = std::getenv("VGGTL_PYTHON");
  return p && *p ? p : "python3";
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci;
}

int run_command(const std::string& command, std::string* output) {
  std::FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) *output += buf;
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string input_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not an InputError) ") + e.what();
  }
  return "(no error)";
}

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void remove_if_suite_passed(const std::string& dir) {
  const ::testing::TestSuite* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
  std::error_code ec;
  if (suite && suite->Passed()) std::filesystem::remove_all(dir, ec);
}

std::string temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string leaf = name;
  if (info) leaf = std::string(info->test_suite_name()) + "." + info->name() + "." + name;
  // VGGTL_TEST_TMPDIR moves scratch files elsewhere (binaries run on another machine).
  const char* env = std::getenv("VGGTL_TEST_TMPDIR");
  fs::path p = (env && *env ? fs::path(env) : fs::path(VGGTL_TEST_BINARY_DIR) / "test_tmp") / leaf;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

bool kill_writer_during_write(const std::function<void(int64_t)>& write, double delay_ms) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (child == 0) {
    close(fds[0]);
    for (int64_t i = 1;; ++i) {
      write(i);
      if (::write(fds[1], "x", 1) != 1) _exit(1);
    }
  }
  close(fds[1]);
  char c;
  const bool started = read(fds[0], &c, 1) == 1;
  if (started) usleep(static_cast<useconds_t>(1000.0 * delay_ms));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  return started;
}

}  // namespace vggtl::test
