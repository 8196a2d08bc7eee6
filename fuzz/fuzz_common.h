// Shared by the libFuzzer harnesses: a per-process scratch folder (the HDF5 readers take a path,
// so each input is written to a file there first). Build and run: scripts/fuzz.sh SECONDS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/error.h"
#include "io/hdf5/keras_weights.h"

namespace vggtl::fuzz {

// Creates (once) a private folder under $TMPDIR or /tmp, removed at exit; also turns HDF5's
// file locking off (nothing else opens these files).
const std::string& scratch_dir();

// Writes data to <scratch_dir>/<name> (replacing it) and returns the path; aborts on I/O failure,
// which is the machine's problem, not the input's.
std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size);

// Runs `read` first in a child process (run_in_child, the containment the apps use), its stderr
// kept in the scratch folder and its stack printed when it runs past 5 s. Returns true when the
// child finished (the caller then reads in-process, where coverage is counted); false when it
// crashed or hung inside libhdf5 (a known libhdf5 bug, docs/reliability.md: the input is
// skipped and counted); aborts with the child's report when it crashed or hung elsewhere, so
// libFuzzer stops on bugs of ours only.
bool read_survives_in_child(const std::function<void()>& read);

// For what a reader threw on the file at `path`: returns when it is an InputError whose message
// names the file; aborts with the message otherwise. An internal check (VGGTL_CHECK, a plain
// vggtl::Error) reached from a file's contents is a finding: the reader must have refused the
// file first, saying which one.
void require_input_error_naming(const Error& e, const std::string& path);

// Reads every weight of the weights file at `path` (read_keras_weights) and matches the layers it
// found against their own shapes (match_weights), as the tools do with a file they are given.
void read_and_match_weights(const std::string& path);

}  // namespace vggtl::fuzz
