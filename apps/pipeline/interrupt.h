// Ctrl-C handling for long runs: the first SIGINT (or SIGTERM) sets a flag that the training
// loop reads after each batch; a second one ends the process at once.
#pragma once

namespace vggtl {

void install_interrupt_handler();
// Back to the default action (Ctrl-C ends the process) once nothing reads the flag any more.
void remove_interrupt_handler();
bool interrupt_requested();
void clear_interrupt();  // tests

}  // namespace vggtl
