// Signal handlers only touch a lock-free atomic flag and restore the default action.
#include "apps/pipeline/interrupt.h"

#include <atomic>
#include <csignal>

namespace vggtl {

namespace {
std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int sig) {
  g_interrupted.store(true);
  std::signal(sig, SIG_DFL);  // a second signal stops the process
}
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

void remove_interrupt_handler() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (g_interrupted.load()) std::raise(SIGINT);  // asked for while the last batch finished
}

bool interrupt_requested() { return g_interrupted.load(); }
void clear_interrupt() { g_interrupted.store(false); }

}  // namespace vggtl
