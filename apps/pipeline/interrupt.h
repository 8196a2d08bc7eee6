// Ctrl-C and SIGTERM: every tool installs the handler first thing (run_app), so the first signal
// only sets a flag that long work reads at the end of each unit (a batch of features, a training
// batch, an evaluation batch) and a second one ends the process at once. The work then unwinds
// as an Error of kind Interrupted: temporaries are removed by their owners' destructors, the run
// says in one line what it kept and how to go on, and the tool exits 128 + the signal (130 for
// SIGINT, 143 for SIGTERM).
#pragma once

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

}  // namespace vggtl
