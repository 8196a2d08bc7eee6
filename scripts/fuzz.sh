#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang in build-fuzz/ (CPU only, ASan + UBSan) and
# runs each for SECONDS seconds on a scratch copy of its seeds (fuzz/corpus/<harness> and the
# inputs of past findings, fuzz/regressions/<harness>; never modified). One summary line per
# harness, then "N passed, N failed"; non-zero exit naming the harness and the input when one
# finds a crash, leak, hang, UB or internal error of ours (libhdf5's known crashes and hangs are
# skipped: fuzz/fuzz_common.h). Run by scripts/test.sh with SECONDS = 20.
# Usage: scripts/fuzz.sh SECONDS      (docs/reliability.md: harnesses, findings)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 1 || ! "$1" =~ ^[0-9]+$ || "$1" -eq 0 ]]; then
  echo "usage: scripts/fuzz.sh SECONDS" >&2
  exit 2
fi
seconds=$1
harnesses=(fuzz_image_decode fuzz_keras_weights fuzz_checkpoint fuzz_keras3 fuzz_onnx_weights)

if ! command -v clang++ >/dev/null || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "fuzz.sh: clang++ with libFuzzer is missing (scripts/install_deps.sh installs clang, libclang-rt-dev)" >&2
  exit 1
fi
echo "== configuring and building build-fuzz/ (clang, libFuzzer, ASan + UBSan)"
# -O1 -g: readable reports at most of -O2's speed; Debug keeps assertions on.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DVGGTL_CUDA=OFF \
  -DVGGTL_FUZZ=ON -DVGGTL_BUILD_TESTS=OFF -DVGGTL_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${harnesses[@]}"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vggtl-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p build-fuzz/artifacts build-fuzz/logs
# oneDNN and OpenMP are not instrumented; their thread pools' allocations are not leaks of ours.
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Runs harness $1 and writes its summary line(s) to $scratch/$1.result, its exit status to
# $scratch/$1.rc.
fuzz_one() {
  local h=$1 corpus=$scratch/$1 log=build-fuzz/logs/$1.log rc=0 extra=()
  mkdir -p "$corpus" "build-fuzz/artifacts/$h"
  cp -r "fuzz/corpus/${h#fuzz_}/." "$corpus/"
  [[ -d fuzz/regressions/${h#fuzz_} ]] && cp -r "fuzz/regressions/${h#fuzz_}/." "$corpus/"
  # libhdf5 mallocs (and never touches) up to 4 GiB for a damaged object header's claimed size
  # (fuzz/hdf5_known_bugs.cpp); the RSS limit still holds.
  [[ $h != fuzz_image_decode && $h != fuzz_onnx_weights ]] && extra=(-malloc_limit_mb=4096)
  "build-fuzz/fuzz/$h" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    "${extra[@]}" -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$h/" >"$log" 2>&1 || rc=$?
  local execs rate cov what frame input
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' "$log" | tail -1 || true)
  {
    if [[ $rc -eq 0 ]]; then
      echo "$h: ok | ${execs:-?} executions (${rate:-?}/s) | ${cov:-no coverage line}"
    else
      # An internal error reached from a file (fuzz_common.h) says so before libFuzzer's report.
      what=$(grep -m1 -oE 'vggtl fuzz: the reader threw [^:]*' "$log" ||
             grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z-]+|runtime error: .*' "$log" || true)
      # The first frame outside the sanitizers tells our bug from a libhdf5 one (docs/reliability.md).
      frame=$(grep -m1 -A12 'ERROR:' "$log" | grep -oE '#[0-9]+ 0x[0-9a-f]+ in [^ (]+' |
              grep -vE ' in (__interceptor_|__sanitizer|__asan|__lsan|__ubsan|fuzzer::|malloc|calloc|realloc|operator|__pthread_kill|pthread_kill|raise|gsignal|abort)' |
              head -1 | sed 's/.* in //' || true)
      input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
      echo "$h: FAILED (${what:-exit $rc}${frame:+ in $frame}) | input ${input:-none} | log $log"
      if [[ -n $input ]]; then
        echo "  reproduce: build-fuzz/fuzz/$h $input; once fixed, keep it as fuzz/regressions/${h#fuzz_}/<name> (tests/io/test_fuzz_regressions.cpp)"
      fi
    fi
  } >"$scratch/$h.result"
  echo "$rc" >"$scratch/$h.rc"
}

# One harness per core at a time (each is single-threaded), so SECONDS is each one's own time.
slots=$(nproc)
for h in "${harnesses[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $slots ]]; do wait -n || true; done
  fuzz_one "$h" &
done
wait
passed=0
failed=()
for h in "${harnesses[@]}"; do
  cat "$scratch/$h.result"
  if [[ $(cat "$scratch/$h.rc") -eq 0 ]]; then passed=$((passed + 1)); else failed+=("$h"); fi
done
echo "$passed passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]} (reproduce: build-fuzz/fuzz/<harness> <input>)" >&2
  exit 1
fi
