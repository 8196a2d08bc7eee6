// oneDNN version, the OpenMP thread count it will use, and the OpenMP wait policy.
//
// Idle OpenMP threads of libgomp spin by default (GOMP_SPINCOUNT 300,000, "3 ms" by libgomp's own
// estimate) before they sleep. On a machine where other jobs keep every core busy, a spinning
// thread holds a core that its team's preempted thread needs to finish its share, so a parallel
// region can cost a scheduler time slice: one small oneDNN primitive took 0.3-15 ms instead of
// 35 us next to two busy processes on two cores, and 0.06-0.11 ms with OMP_WAIT_POLICY=PASSIVE
// (docs/performance.md, "The CPU engine under load"). libgomp reads its environment once, in its
// constructor, before main() runs; and glibc's own start-up resets the environment after any
// .preinit_array entry, so an in-process setenv never reaches it. Hence the restart below. The
// wait policy never changes which thread computes what, so results stay bit-identical.
#include "kernels/cpu_backend.h"

#include <dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

namespace vggtl {

void restart_with_openmp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user's choice
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc, or the binary is gone: carry on with libgomp's spinning default.
  unsetenv("OMP_WAIT_POLICY");
}

int cpu_threads() {
  // oneDNN's OpenMP runtime follows OMP_NUM_THREADS (its first number), else the CPUs this process
  // may run on (libgomp counts sched_getaffinity's set, as here).
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

std::string cpu_wait_policy() {
  std::string out;
  for (const char* name : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (const char* v = std::getenv(name)) out += (out.empty() ? "" : " ") + std::string(name) + "=" + v;
  return out.empty() ? "libgomp default (spin, then sleep)" : out;
}

std::string cpu_backend_version() {
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << "oneDNN " << v->major << "." << v->minor << "." << v->patch << " (" << cpu_threads()
     << " threads, OpenMP wait " << cpu_wait_policy() << ")";
  return os.str();
}

std::string cpu_isa_name() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "no JIT ISA";
  }
}

bool cpu_has_bf16() {
  // The ISA values are nested bit sets; avx2_vnni (0x407) is numerically larger but has no bf16.
  const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  const unsigned bf16 = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
  return (isa & bf16) == bf16;
}

std::string cpu_bf16_unsupported_reason() {
  return "this CPU has no AVX512-BF16 or AMX-BF16 (oneDNN uses " + cpu_isa_name() + ")";
}

int cpu_team_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

int64_t images_one_per_thread(int64_t n, int threads) {
  if (threads < 2 || n < 1) return 0;
  const int64_t rounds = n / threads * threads;
  return 2 * (n - rounds) > threads ? n : rounds;
}

void for_each_image_on_threads(int64_t count, int threads, const std::function<void(int64_t)>& fn) {
  if (threads < 2) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t i = 0; i < count; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;  // the images not started yet are skipped
    try {
      fn(i);
    } catch (...) {  // an exception must not leave the parallel region
      std::lock_guard<std::mutex> guard(failure_mutex);
      if (!failure) failure = std::current_exception();
      failed = true;
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace vggtl
