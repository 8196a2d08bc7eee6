// Linked into the HDF5 harnesses only: sanitizer settings that step around bugs inside libhdf5
// (1.10.8, Debian 12; not instrumented, not ours to fix) so that fuzzing goes on to our code.
// Each entry is as narrow as the sanitizers allow; docs/reliability.md lists the inputs.
extern "C" {

// Full malloc stacks: libhdf5 is built without frame pointers, so the fast unwinder stops at
// its first frame and a leak could not be told from one of ours (an unreclaimed string).
const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

// H5O attribute decoding strdup()s an attribute name that a damaged file need not terminate:
// a heap over-read in libhdf5 (H5Aexists/H5Aopen on such a file). Reported only when the
// interceptor is called from H5MM_strdup itself, so our own buffers stay fully checked.
const char* __asan_default_suppressions() { return "interceptor_via_fun:H5MM_strdup\n"; }

// A damaged object header leaks the chunk buffers libhdf5's metadata cache allocated while
// loading it (H5Oopen -> H5O_protect -> H5C_protect fails). Only allocations under the cache's
// load are suppressed; nothing of ours is allocated there.
// A variable-length string read that fails part way (a damaged file's global heap) leaks the
// strings converted before the failure: they sit in libhdf5's own conversion buffer, which it
// frees without reclaiming them, so the caller never sees them (H5Aread -> H5T__conv_vlen).
// This one would also hide a successful read's strings left unreclaimed by us: read_strings_from
// (io/hdf5/hdf5.cpp) is the one place that reads them, and it reclaims them.
const char* __lsan_default_suppressions() { return "leak:H5C_protect\nleak:H5T__conv_vlen\n"; }
// libFuzzer checks for leaks after every input that leaks; the suppressed ones need no table.
const char* __lsan_default_options() { return "print_suppressions=0"; }

// Not suppressible here: libhdf5 mallocs an object header's claimed size before checking it
// against the file (H5C_protect; up to 4 GiB from a 4-byte length). Untouched, it costs no
// memory, but libFuzzer's malloc limit (default: the RSS limit) stops on it, so scripts/fuzz.sh
// runs these harnesses with -malloc_limit_mb=4096.
//
// Not avoidable at all (inputs in fuzz/known_crashes/): reading a variable-length string whose
// global heap collection is damaged makes libhdf5 memcpy a garbage length (H5HG_read: SIGSEGV)
// or loop while loading the collection (H5HG__protect: hang). The harnesses read each input in
// a child process first and skip it when the child dies or hangs inside libhdf5
// (fuzz_common.h: read_survives_in_child); the apps contain the same bugs the same way
// (io/hdf5/hdf5_precheck.h).

}  // extern "C"
