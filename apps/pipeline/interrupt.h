// Ctrl-C and SIGTERM: every tool installs the handler first thing (run_app), so the first signal
// only sets a flag that long work reads at the end of each unit (a batch of features, a training
// batch, an evaluation batch) and a second one ends the process at once. The work then unwinds
// as an Error of kind Interrupted: temporaries are removed by their owners' destructors, the run
// says in one line what it kept and how to go on, and the tool exits 128 + the signal (130 for
// SIGINT, 143 for SIGTERM).
#pragma once

#include <cstdint>
#include <string>

namespace vggtl {

void install_interrupt_handler();
bool interrupt_requested();
int interrupt_signal();  // SIGINT or SIGTERM once one came, else 0
// Throws Error(Interrupted) "interrupted during <doing>" when a signal came.
void throw_if_interrupted(const std::string& doing);
// The exit status of an interrupted tool: 128 + the signal (130 when none was recorded: an
// interruption injected by a test).
int interrupted_exit_status();
void clear_interrupt();  // tests

// Fault injection for the tests of vggtl_train, read once from the environment, after N optimizer
// steps of this process (all stages): VGGTL_INTERRUPT_AFTER_STEPS=N acts as a Ctrl-C,
// VGGTL_KILL_AFTER_STEPS=N as a SIGKILL. The kill comes whatever the checkpoint writer is doing
// at that moment, but only once the file `kill_waits_for` (the run's first last.h5) is on disk:
// on a loaded machine the writer may not have finished any by step N, and a kill before the
// first checkpoint leaves nothing to resume, which is not what the kill tests are about.
class StepFaults {
 public:
  static StepFaults from_environment();
  // After `steps` optimizer steps: true when the run is to stop (a signal came, or the injected
  // interruption is due); does not return when the injected kill is due.
  bool stop_after(int64_t steps, const std::string& kill_waits_for) const;

 private:
  int64_t interrupt_after_ = -1, kill_after_ = -1;
};

}  // namespace vggtl
