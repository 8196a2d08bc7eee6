// The VGG16 base (CPU, fp32, 224x224, random He weights) on a quiet machine and with busy
// competitors: N processes that only spin (default one per CPU this process may use), started
// (never forked: see Competitors) and stopped by the bench, bounded by alarm(). Quiet and loaded
// repetitions alternate so that other noise hits both alike. One line per batch and condition in
// bench/peers/torch_under_load.py's format ("vgg16 base fp32 N<b> 224x224 quiet|loaded | cpu |
// <median> ms | ...") with the range and the process's CPU time per pass (CPU time far above the
// quiet pass's means threads spin-waiting).
// Usage: bench_under_load [--reps N] [--batches 1,8] [--competitors N] [--no-small]; libgomp's own
// spinning default for comparison: GOMP_SPINCOUNT=300000 bench_under_load.
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "engine/timer.h"
#include "kernels/conv2d.h"
#include "kernels/cpu_backend.h"
#include "layers/sequential.h"
#include "layers/vgg16.h"

using namespace vggtl;

namespace {

struct Args {
  int reps = 5;
  std::vector<int64_t> batches{1, 8};
  int competitors = 0;  // 0: one per usable CPU
  bool small = true;    // the many-small-primitives case
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      a.reps = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--competitors") && i + 1 < argc) {
      a.competitors = std::max(0, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--no-small")) {
      a.small = false;
    } else if (!std::strcmp(argv[i], "--batches") && i + 1 < argc) {
      a.batches.clear();
      for (const char* p = argv[++i]; *p;) {
        a.batches.push_back(std::max<int64_t>(1, std::strtol(p, const_cast<char**>(&p), 10)));
        if (*p == ',') ++p;
        else if (*p) break;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--reps N] [--batches 1,8] [--competitors N] [--no-small]\n", argv[0]);
      std::exit(2);
    }
  }
  return a;
}

// Busy processes: each a fresh image of this program in spinning mode (`--spin SECONDS`), started
// with posix_spawn, never with fork: a forked child shares this process's pages copy-on-write, and
// every page the timed pass then writes would fault and be copied (measured: that alone made the
// batch-1 base's CPU time under load 3-4x its quiet one, docs/performance.md). A real competing job
// shares no pages with us. Each dies with the bench or after `seconds` at most.
class Competitors {
 public:
  Competitors(int n, unsigned seconds) {
    const std::string limit = std::to_string(seconds);
    char* const argv[] = {const_cast<char*>("bench_under_load"), const_cast<char*>("--spin"),
                          const_cast<char*>(limit.c_str()), nullptr};
    for (int i = 0; i < n; ++i) {
      pid_t pid = 0;
      const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environ);
      if (rc != 0) {
        std::fprintf(stderr, "bench_under_load: cannot start a competitor: %s\n", std::strerror(rc));
        std::exit(1);
      }
      pids_.push_back(pid);
    }
    usleep(50000);  // let them reach their cores
  }
  ~Competitors() {
    for (pid_t p : pids_) kill(p, SIGKILL);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
  }
  Competitors(const Competitors&) = delete;
  Competitors& operator=(const Competitors&) = delete;

 private:
  std::vector<pid_t> pids_;
};

double process_cpu_ms() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);  // this process's threads only; the competitors are children
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-3;
}

struct Sample {
  double wall_ms, cpu_ms;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double report(const std::string& name, double items, const std::vector<Sample>& s, int competitors) {
  std::vector<double> wall, cpu;
  for (const Sample& x : s) {
    wall.push_back(x.wall_ms);
    cpu.push_back(x.cpu_ms);
  }
  const double ms = median(wall);
  std::printf("%-48s | %-7s | %9.1f ms | %.1f /s | range %.1f-%.1f ms | cpu time %.1f ms | %d competitors | %s\n",
              name.c_str(), "cpu", ms, items / (ms * 1e-3), *std::min_element(wall.begin(), wall.end()),
              *std::max_element(wall.begin(), wall.end()), median(cpu), competitors, cpu_backend_version().c_str());
  std::fflush(stdout);
  return ms;
}

// Alternates quiet and loaded passes of `pass` (after one warm-up), reps of each.
template <class Pass>
void quiet_and_loaded(const std::string& name, double items, const Args& a, int competitors, Pass pass) {
  const Sample warm = pass();  // weight reorders, first touch of buffers
  // Bound each loaded pass generously: 40x the quiet time, at least 30 s.
  const unsigned limit = static_cast<unsigned>(std::max(30.0, 40.0 * warm.wall_ms * 1e-3));
  std::vector<Sample> quiet, loaded;
  for (int r = 0; r < a.reps; ++r) {
    const bool loaded_first = r % 2 == 1;
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == loaded_first) {
        Competitors busy(competitors, limit);
        loaded.push_back(pass());
      } else {
        quiet.push_back(pass());
      }
    }
  }
  const double q = report(name + " quiet", items, quiet, 0);
  const double l = report(name + " loaded", items, loaded, competitors);
  std::printf("%-48s | %-7s | slowdown %.2fx\n", (name + " under load").c_str(), "cpu", l / q);
  std::fflush(stdout);
}

Sample timed(const std::function<void()>& fn) {
  const double cpu0 = process_cpu_ms();
  Stopwatch clock;
  fn();
  return Sample{clock.seconds() * 1e3, process_cpu_ms() - cpu0};
}

void run_base(int64_t batch, const Args& a, int competitors) {
  Vgg16Options vo;
  vo.precision = Precision::FP32;
  auto layers = make_vgg16_base(vo);
  std::vector<Layer*> chain;
  for (auto& l : layers) chain.push_back(l.get());
  bind_standalone(chain, Device::cpu());
  for (auto& l : layers) l->initialize(1);
  Tensor x = Tensor::empty({batch, 224, 224, 3}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 7919) % 255) - 120.f;
  quiet_and_loaded("vgg16 base fp32 N" + std::to_string(batch) + " 224x224", static_cast<double>(batch), a,
                   competitors, [&] { return timed([&] { run_layers_forward(chain, x); }); });
}

// Many small parallel regions: 100 calls of a 14x14 64->64 convolution (one oneDNN primitive,
// ~0.2 ms each on two cores), the kind of step that spin-waiting makes expensive under load.
void run_small(const Args& a, int competitors) {
  constexpr int64_t kSide = 14, kC = 64, kCalls = 100;
  Conv2dOnednn conv(kC, kC, true);
  std::vector<float> x(kSide * kSide * kC, 0.5f), w(9 * kC * kC, 0.01f), b(kC, 0.f), y(x.size());
  quiet_and_loaded("conv 14x14 64->64 N1 x100", static_cast<double>(kCalls), a, competitors, [&] {
    return timed([&] {
      for (int i = 0; i < kCalls; ++i) conv.forward(y.data(), x.data(), 1, kSide, kSide, w.data(), b.data());
    });
  });
}

// A competitor: spins until killed, until the bench that started it dies, or `seconds` at most.
[[noreturn]] void spin(unsigned seconds) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(seconds);
  for (volatile uint64_t x = 0;; x = x + 1) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && !std::strcmp(argv[1], "--spin")) spin(static_cast<unsigned>(std::atoi(argv[2])));
  restart_with_openmp_wait_policy(argv);  // as the apps do
  Args a = parse(argc, argv);
  const int competitors = a.competitors > 0 ? a.competitors : cpu_threads();
  std::printf("# CPU: %s; %d busy competitor processes in the loaded passes\n", cpu_backend_version().c_str(),
              competitors);
  if (a.small) run_small(a, competitors);
  for (int64_t b : a.batches) run_base(b, a, competitors);
  return 0;
}
