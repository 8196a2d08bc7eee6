// Shared by the libFuzzer harnesses: a per-process scratch folder (the HDF5 readers take a path,
// so each input is written to a file there first). Build and run: scripts/fuzz.sh SECONDS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vggtl::fuzz {

// Creates (once) a private folder under $TMPDIR or /tmp, removed at exit; also turns HDF5's
// file locking off (nothing else opens these files).
const std::string& scratch_dir();

// Writes data to <scratch_dir>/<name> (replacing it) and returns the path; aborts on I/O failure,
// which is the machine's problem, not the input's.
std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size);

}  // namespace vggtl::fuzz
