// Signal handlers only touch lock-free atomics and restore the default action.
#include "apps/pipeline/interrupt.h"

#include <atomic>
#include <csignal>

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

}  // namespace vggtl
