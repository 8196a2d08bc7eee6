// Signal handlers only touch lock-free atomics and restore the default action.
#include "apps/pipeline/interrupt.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "engine/error.h"

namespace vggtl {

namespace {
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  std::signal(sig, SIG_DFL);  // a second signal stops the process
}
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }

void throw_if_interrupted(const std::string& doing) {
  if (interrupt_requested()) throw Error("interrupted during " + doing, ErrorKind::Interrupted);
}

int interrupted_exit_status() {
  const int sig = g_signal.load();
  return 128 + (sig ? sig : SIGINT);
}

void clear_interrupt() {
  g_signal.store(0);
  install_interrupt_handler();
}

StepFaults StepFaults::from_environment() {
  auto steps = [](const char* name) -> int64_t {
    const char* v = std::getenv(name);
    return v && *v ? std::atoll(v) : -1;
  };
  StepFaults f;
  f.interrupt_after_ = steps("VGGTL_INTERRUPT_AFTER_STEPS");
  f.kill_after_ = steps("VGGTL_KILL_AFTER_STEPS");
  return f;
}

bool StepFaults::stop_after(int64_t steps, const std::string& kill_waits_for) const {
  if (kill_after_ >= 0 && steps >= kill_after_) {
    std::error_code ec;
    for (int i = 0; i < 6000 && !std::filesystem::exists(kill_waits_for, ec); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::raise(SIGKILL);
  }
  return interrupt_requested() || (interrupt_after_ >= 0 && steps >= interrupt_after_);
}

}  // namespace vggtl
