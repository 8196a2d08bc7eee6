#!/usr/bin/env bash
# On a bare GPU machine: unpack the bundle from scripts/make_device_bundle.sh, check that it
# starts, then run the phases asked for:
#   --tests  every GPU test (the *Gpu* suites of every test binary), counted from gtest's JSON;
#            a GPU test that skips on this machine counts as a failure. Aim: under 5 minutes.
#   --bench  the benchmarks in quick mode, the PyTorch peers, the whole reference job and the
#            two decode routes compared. Aim: under 8 minutes.
#   --sanitize  the kernel tests' GPU suites under compute-sanitizer: memcheck (out-of-bounds
#            and misaligned accesses, leaks) for each, racecheck for the shared-memory kernels.
#   --load   the CPU convolution and base tests, then the CPU base under a competing busy load
#            against PyTorch (bench/peers/under_load.py), on that machine's cores, which may have
#            the AVX-512 paths (Winograd) a development machine lacks.
# With none of the flags, --tests and --bench. --deadline S caps the whole script (default 280 s
# per test or bench phase, 120 s per other phase): before each step the time left is checked, a
# step that no longer fits is skipped and said so, and a step that runs gets at most the time
# left as its timeout.
# Results ($OUT when set, else ./device_out), at most 8 files: summary.txt (appended as each
# step ends), logs.tgz (every log, rewritten as each step ends and on exit), cudnn_cache.txt.
# The last lines printed are the counts and the name of every failure; the exit status is 1 when
# anything failed.
# The binaries link cuBLAS 13, cuDNN 9 and NCCL 2 dynamically and find them in the GPU
# machine's PyTorch wheels (nvidia/cu13, nvidia/cudnn, nvidia/nccl); step 1 names a missing
# library in ldd.txt.
set -uo pipefail
cd "$(dirname "$0")/.."

tests=0 bench=0 sanitize=0 load=0 deadline=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tests) tests=1 ;;
    --bench) bench=1 ;;
    --sanitize) sanitize=1 ;;
    --load) load=1 ;;
    --deadline) deadline=${2:?--deadline needs seconds}; shift ;;
    *) echo "usage: scripts/device_check.sh [--tests] [--bench] [--sanitize] [--load] [--deadline SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
[[ $tests -eq 0 && $bench -eq 0 && $sanitize -eq 0 && $load -eq 0 ]] && tests=1 bench=1
[[ -z "$deadline" ]] && deadline=$(( 280 * (tests + bench) + 120 * (sanitize + load) ))

out=${OUT:-$PWD/device_out}
mkdir -p "$out"
work=/tmp/vggtl_device
rm -rf "$work" && mkdir -p "$work"/{logs,json}
logs=$work/logs
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }
left() { echo $(( deadline - $(elapsed) )); }

failures=()
note() { echo "$1" | tee -a "$out/summary.txt"; }
fail() { failures+=("$1"); note "FAIL: $1"; }
pack() { tar -C "$work" -czf "$out/logs.tgz.tmp" logs json 2>/dev/null && mv "$out/logs.tgz.tmp" "$out/logs.tgz"; }
finish() {
  pack
  [[ -f "${VGGTL_CUDNN_CACHE:-}" ]] && cp "$VGGTL_CUDNN_CACHE" "$out/cudnn_cache.txt"
  {
    echo "==== device check verdict: $(elapsed) s of $deadline s; $(head -1 "$logs/gpu.txt" 2>/dev/null)"
    echo "failures: ${#failures[@]}"
    printf '  %s\n' "${failures[@]+"${failures[@]}"}" | head -n 32
    (( ${#failures[@]} > 32 )) && echo "  ... and $(( ${#failures[@]} - 32 )) more in summary.txt"
    grep -h '^tests:' "$work/test_counts.txt" 2>/dev/null
  } > "$work/verdict.txt"
  cat "$work/verdict.txt" >> "$out/summary.txt"
  cat "$work/verdict.txt"
  (( ${#failures[@]} == 0 )) || exit 1  # the script's status is the verdict's
}
trap finish EXIT

# step NAME MIN_S MAX_S CMD...: runs CMD with a timeout of min(MAX_S, time left) when at least
# MIN_S seconds are left, else records the skip. Output goes to logs/NAME.log; a skip, a time-out
# or a non-zero exit is recorded as a failure.
step() {
  local name=$1 min=$2 max=$3
  shift 3
  local l
  l=$(left)
  if (( l < min )); then
    fail "$name skipped: $l s left before the deadline, it needs $min s"
    return 1
  fi
  local t=$(( l < max ? l : max )) s=$(date +%s) rc=0
  timeout -k 5 "$t" "$@" > "$logs/$name.log" 2>&1 || rc=$?
  note "step $name: rc $rc in $(( $(date +%s) - s )) s (t=$(elapsed) s)"
  pack
  if (( rc == 124 || rc == 137 )); then
    fail "$name timed out after $t s (logs/$name.log)"
  elif (( rc != 0 )); then
    fail "$name exited with $rc (logs/$name.log)"
  fi
  return $rc
}

note "== device check $(date -u +%FT%TZ): tests=$tests bench=$bench sanitize=$sanitize load=$load deadline=$deadline s"

# 1. Sanity: the GPU, the bundle, the libraries.
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$logs/gpu.txt" 2>&1
nvidia-smi > "$logs/nvidia-smi.txt" 2>&1
if ! tar -C "$work" -xJf .device_bundle/bundle.tar.xz; then
  fail "no bundle: run scripts/make_device_bundle.sh first"
  exit 1
fi
pylibs=$(python3 - <<'PY'
import importlib, os
dirs = []
for mod in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cu13", "nvidia.cuda_runtime", "nvidia.nccl"):
    try:
        m = importlib.import_module(mod)
        for p in getattr(m, "__path__", []):
            if os.path.isdir(os.path.join(p, "lib")):
                dirs.append(os.path.join(p, "lib"))
    except Exception:
        pass
print(":".join(dirs))
PY
)
# Our binaries get the bundled libraries; Python (the peers) keeps its own environment.
ourlibs="$work/lib:$pylibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ours() { LD_LIBRARY_PATH="$ourlibs" "$@"; }
# A library none of those wheels holds where expected (ldd: "not found"): the first file of that
# name under Python's site-packages, so that a moved wheel costs no loan.
while read -r lib; do
  found=$(python3 -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null |
          while read -r sp; do find "$sp" -name "$lib" -print -quit 2>/dev/null; done | head -1)
  if [[ -n $found ]]; then
    ourlibs="$ourlibs:$(dirname "$found")"
    note "$lib found in $(dirname "$found")"
  fi
done < <(ours ldd "$work/bin/vggtl_train" 2>/dev/null | awk '/not found/ {print $1}')
export VGGTL_TEST_TMPDIR="$work/tmp" VGGTL_CUDNN_CACHE="$work/cudnn_cache.txt"
mkdir -p "$VGGTL_TEST_TMPDIR"
if ! ours "$work/bin/vggtl_train" --version > "$logs/version.txt" 2>&1; then
  ourlibs="$ourlibs:$work/lib-fallback"  # this machine's C++ runtime is older than the build's
  if ! ours "$work/bin/vggtl_train" --version > "$logs/version.txt" 2>&1; then
    ours ldd "$work/bin/vggtl_train" > "$logs/ldd.txt" 2>&1
    fail "the bundled binary does not start (see version.txt, ldd.txt)"
    exit 1
  fi
fi
note "$(tr '\n' ' ' < "$logs/version.txt")"
note "CUDA libraries from: ${pylibs:-nowhere (no PyTorch wheels found)}"
grep -q "^device cuda" "$logs/version.txt" || fail "vggtl sees no GPU (see version.txt)"

# 2. Every GPU test, several binaries at a time (one GPU, 16 cores). The binaries run directly:
#    CTest files hold paths of the build machine.
if (( tests )); then
  # One binary may take at most what is left, less a margin for the counting.
  per=$(( $(left) - 20 ))
  (( per > 240 )) && per=240
  run_one() {  # one binary's GPU suites: its gtest JSON, log and exit status under $work
    local n
    n=$(basename "$1")
    LD_LIBRARY_PATH="$ourlibs" timeout -k 5 "$per" "$1" --gtest_filter='*Gpu*.*' \
        --gtest_output="json:$work/json/$n.json" > "$logs/$n.log" 2>&1
    echo "$n rc $?" >> "$logs/test_rc.txt"
  }
  run_all() { find "$work/tests" -maxdepth 1 -name 'test_*' -print0 | xargs -0 -P 4 -n 1 bash -c 'run_one "$0"'; }
  export -f run_one run_all
  export ourlibs work logs per
  step gpu_tests 60 $(( per + 10 )) bash -c run_all
  python3 scripts/gtest_counts.py --gpu-machine "$work/json" "$logs/test_rc.txt" \
      > "$work/test_counts.txt" 2>&1
  while IFS= read -r line; do failures+=("$line"); done < <(grep '^test ' "$work/test_counts.txt")
  tee -a "$out/summary.txt" < "$work/test_counts.txt"
fi

# 3. Benchmarks (quick), the PyTorch peer of the base, the ratios, then the whole job.
if (( bench )); then
  data=$(ls -d "$work"/data/* 2>/dev/null | head -1)
  mkdir -p "$work/wrapped"  # vggtl_train as a command for bench/reference_job.py
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$ourlibs" "$work/bin/vggtl_train" \
      > "$work/wrapped/vggtl_train"
  chmod +x "$work/wrapped/vggtl_train"
  for b in vgg16 conv2d optimizer head gather_rows maxpool2d bias_relu convert resize_preprocess \
           jpeg_idct jpeg_color batchnorm softmax_xent dropout gemm bias relu random augment finetune; do
    step "bench_$b" 20 90 env LD_LIBRARY_PATH="$ourlibs" "$work/bench/bench_$b" --quick --gpu-only
  done
  cat "$logs"/bench_*.log > "$logs/bench.txt" 2>/dev/null
  step peer_vgg16 60 150 python3 bench/peers/torch_vgg16.py --quick --gpu-only
  [[ -f "$logs/peer_vgg16.log" ]] &&
    python3 bench/peers/ratios.py "$logs/bench.txt" "$logs/peer_vgg16.log" > "$logs/ratios.txt" 2>&1
  if [[ -n "$data" ]]; then
    step bench_decode 20 60 env LD_LIBRARY_PATH="$ourlibs" "$work/bench/bench_decode" "$data/train" --quick
    # No weights file on that machine: a random base does the same work.
    step reference_job 60 240 python3 bench/reference_job.py "$data" --bin "$work/wrapped" --python python3
    for d in cpu gpu; do
      step "decode_$d" 20 90 env LD_LIBRARY_PATH="$ourlibs" "$work/bin/vggtl_train" --data "$data" --weights none \
          --decode $d --feature-cache off --epochs 2 --out "$work/decode_$d" --quiet
    done
    # Augmentation on the device: the base runs on every training batch (no feature cache).
    step augment_job 20 120 env LD_LIBRARY_PATH="$ourlibs" "$work/bin/vggtl_train" --data "$data" --weights none \
        --augment hflip,shift=0.1,zoom=0.2,rotate=15,brightness=0.8:1.2 --epochs 2 --out "$work/augment_job" --quiet
    # Two processes on the one GPU: --allreduce auto takes MPI and says why (NCCL needs a GPU each).
    if command -v mpiexec > /dev/null; then
      step mpi_distributed 20 120 env LD_LIBRARY_PATH="$ourlibs" OMPI_ALLOW_RUN_AS_ROOT=1 \
          OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec --oversubscribe -n 2 "$work/bin/vggtl_train" --data "$data" \
          --weights none --distributed-train --epochs 2 --out "$work/mpi_job"
    else
      note "mpiexec is not on this machine: the two-process GPU run was skipped"
    fi
    if [[ -f "$work/decode_cpu/history.csv" && -f "$work/decode_gpu/history.csv" ]]; then
      if cmp -s <(cut -d, -f1-5 "$work/decode_cpu/history.csv") <(cut -d, -f1-5 "$work/decode_gpu/history.csv"); then
        note "decode cpu and gpu: identical history"
      else
        fail "decode cpu and gpu histories differ"
      fi
    fi
  fi
  {
    echo "--- benchmarks"
    grep -h ' | ' "$logs/bench.txt" "$logs/bench_decode.log" 2>/dev/null | head -80
    echo "--- ours vs PyTorch (same names)"
    cat "$logs/ratios.txt" 2>/dev/null
    echo "--- whole job"
    tail -n 15 "$logs/reference_job.log" 2>/dev/null
  } | tee -a "$out/summary.txt"
fi
# 4. The kernels' GPU suites under compute-sanitizer (slow: small cases only). A report of any
#    error makes the tool exit non-zero, recorded as a failure with its log.
if (( sanitize )); then
  export PATH="$PATH:/usr/local/cuda/bin"
  if ! command -v compute-sanitizer > /dev/null; then
    fail "compute-sanitizer not found on this machine"
  else
    # memcheck: every kernel GPU suite but cuDNN's and cuBLAS's (slow under the tool, and not
    # our memory accesses); racecheck: the kernels with shared memory and barriers.
    step memcheck_kernels 20 200 env LD_LIBRARY_PATH="$ourlibs" compute-sanitizer --tool memcheck --error-exitcode 99 \
        "$work/tests/test_kernels" --gtest_filter='*Gpu*.*:-Conv2d*:Gemm*'
    step racecheck_kernels 10 120 env LD_LIBRARY_PATH="$ourlibs" compute-sanitizer --tool racecheck --error-exitcode 99 \
        "$work/tests/test_kernels" --gtest_filter='BiasGpu.*:BatchnormGpu.*:JpegIdctGpu.*'
  fi
fi

# 5. The CPU base under load, ours against PyTorch on the same cores.
if (( load )); then
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$ourlibs" "$work/bench/bench_under_load" \
      > "$work/bench_under_load"
  chmod +x "$work/bench_under_load"
  lscpu > "$logs/lscpu.txt" 2>&1
  mkdir -p "$work/json_cpu"
  cpu_tests() {
    LD_LIBRARY_PATH="$ourlibs" "$work/tests/test_kernels" --gtest_filter='Conv2d.*' \
        --gtest_output="json:$work/json_cpu/test_conv2d.json"
    echo "test_conv2d rc $?" > "$work/json_cpu/rc.txt"
    LD_LIBRARY_PATH="$ourlibs" "$work/tests/test_layers" --gtest_filter='Vgg16.*' \
        --gtest_output="json:$work/json_cpu/test_vgg16.json"
    echo "test_vgg16 rc $?" >> "$work/json_cpu/rc.txt"
  }
  export -f cpu_tests
  export ourlibs work
  step cpu_tests 30 120 bash -c cpu_tests
  python3 scripts/gtest_counts.py "$work/json_cpu" "$work/json_cpu/rc.txt" > "$logs/cpu_test_counts.txt" 2>&1
  while IFS= read -r line; do failures+=("cpu $line"); done < <(grep '^test ' "$logs/cpu_test_counts.txt")
  note "cpu $(tail -n 1 "$logs/cpu_test_counts.txt") (Conv2d.*, Vgg16.*)"
  grep -h -A1 'SKIPPED \]\|Skipped' "$logs/cpu_tests.log" | head -n 4 | tee -a "$out/summary.txt"
  step under_load 60 300 python3 bench/peers/under_load.py --bin "$work/bench_under_load" --python python3 \
      --rounds 2 --reps 3 --batches 1,8 --spinning
  {
    echo "--- under load ($(grep -m1 'Model name' "$logs/lscpu.txt" | sed 's/  */ /g'))"
    tail -n 20 "$logs/under_load.log"
  } | tee -a "$out/summary.txt"
fi

# The verdict (counts and failures) is printed by the EXIT trap, last.
