#!/usr/bin/env bash
# On a bare GPU machine: unpack the bundle from scripts/make_device_bundle.sh, check that it
# starts, run every GPU test, the benchmarks in quick mode, the PyTorch peers and the whole
# reference job on the sample data, then print one summary table. Aim: under 6 minutes.
# The binaries link cuBLAS 13 and cuDNN 9 dynamically and find them in the GPU machine's
# PyTorch wheels (nvidia/cu13, nvidia/cudnn): a machine whose PyTorch is built for CUDA 12, or
# has none, fails at step 1 with the missing library named in ldd.txt.
# Usage (repository root on the GPU machine): scripts/device_check.sh [--full]
# Results go to $OUT (when set) or ./device_out: one log per step and summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=--quick
[[ "${1:-}" == "--full" ]] && quick=""
out=${OUT:-$PWD/device_out}
mkdir -p "$out"
work=/tmp/vggtl_device
rm -rf "$work" && mkdir -p "$work"
summary=()
note() { summary+=("$1"); echo "== $1"; }
clock() { date +%s; }
t0=$(clock)

# 1. Sanity: the GPU, the bundle, the libraries.
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
tar -C "$work" -xJf .device_bundle/bundle.tar.xz || { echo "no bundle: run scripts/make_device_bundle.sh first"; exit 1; }
pylibs=$(python3 - <<'PY'
import importlib, os
dirs = []
for mod in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cu13", "nvidia.cuda_runtime"):
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
export VGGTL_TEST_TMPDIR="$work/tmp" VGGTL_CUDNN_CACHE="$work/cudnn_cache.txt"
mkdir -p "$VGGTL_TEST_TMPDIR"
if ! ours "$work/bin/vggtl_train" --version > "$out/version.txt" 2>&1; then
  ourlibs="$ourlibs:$work/lib-fallback"  # this machine's C++ runtime is older than the build's
  if ! ours "$work/bin/vggtl_train" --version > "$out/version.txt" 2>&1; then
    ours ldd "$work/bin/vggtl_train" > "$out/ldd.txt" 2>&1
    note "FAIL: the bundled binary does not start (see version.txt, ldd.txt)"
    printf '%s\n' "${summary[@]}" > "$out/summary.txt"
    exit 1
  fi
fi
cat "$out/version.txt"
# vggtl_train as a command for bench/reference_job.py, with the libraries it needs.
mkdir -p "$work/wrapped"
printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$ourlibs" "$work/bin/vggtl_train" > "$work/wrapped/vggtl_train"
chmod +x "$work/wrapped/vggtl_train"
grep -q "^device cuda" "$out/version.txt" || note "FAIL: vggtl sees no GPU (see version.txt)"

# 2. Every GPU test. The binaries run directly: CTest files hold paths of the build machine.
fails=0
for t in "$work"/tests/test_*; do
  name=$(basename "$t")
  if ! ours timeout 300 "$t" --gtest_filter='*Gpu*' --gtest_brief=1 > "$out/$name.log" 2>&1; then
    fails=$((fails + 1))
    note "FAIL: $name (see $name.log)"
  fi
done
passed=$(cat "$out"/test_*.log | grep -c '^\[       OK \]' || true)
note "gpu tests: $passed passed, $fails binaries failing ($(( $(clock) - t0 )) s so far)"

# 3. Benchmarks (quick), then the PyTorch peer of the base, and the ratios.
data=$(ls -d "$work"/data/* 2>/dev/null | head -1)
for b in vgg16 conv2d optimizer head gather_rows maxpool2d bias_relu convert resize_preprocess \
         jpeg_idct jpeg_color batchnorm softmax_xent dropout gemm bias relu random; do
  ours timeout 120 "$work/bench/bench_$b" $quick --gpu-only >> "$out/bench.txt" 2>&1 || note "bench failed: $b"
done
if [[ -n "$data" ]]; then
  ours timeout 120 "$work/bench/bench_decode" "$data/train" $quick >> "$out/bench.txt" 2>&1 || note "bench failed: decode"
  ours timeout 120 "$work/bench/bench_gpu_jpeg" --folder "$data" $quick >> "$out/bench.txt" 2>&1 || note "bench failed: gpu_jpeg"
fi
timeout 180 python3 bench/peers/torch_vgg16.py $quick --gpu-only > "$out/peer_vgg16.txt" 2>&1 || note "torch_vgg16 peer failed"
python3 bench/peers/ratios.py "$out/bench.txt" "$out/peer_vgg16.txt" > "$out/ratios.txt" 2>&1 || true
note "benchmarks done ($(( $(clock) - t0 )) s so far)"

# 4. The whole reference job, ours against the PyTorch job, on the sample data (no weights
#    file on that machine: a random base times the same work). Then the decode routes agree.
if [[ -n "$data" ]]; then
  timeout 300 python3 bench/reference_job.py "$data" --bin "$work/wrapped" --python python3 > "$out/job.txt" 2>&1 \
      || note "reference job failed (see job.txt)"
  for d in cpu gpu; do
    ours timeout 120 "$work/bin/vggtl_train" --data "$data" --weights none --decode $d --feature-cache off --epochs 2 \
        --out "$work/decode_$d" --quiet > "$out/decode_$d.txt" 2>&1 || note "vggtl_train --decode $d failed"
  done
  if cmp -s <(cut -d, -f1-5 "$work/decode_cpu/history.csv") <(cut -d, -f1-5 "$work/decode_gpu/history.csv"); then
    note "decode cpu and gpu: identical history"
  else
    note "FAIL: decode cpu and gpu histories differ"
  fi
fi

# 5. Summary, last.
{
  echo "GPU: $(cat "$out/gpu.txt")  total $(( $(clock) - t0 )) s"
  printf '%s\n' "${summary[@]}"
  echo "--- benchmarks"
  grep -v '^$' "$out/bench.txt"
  echo "--- ours vs PyTorch (same names)"
  cat "$out/ratios.txt"
  echo "--- whole job"
  cat "$out/job.txt" 2>/dev/null
} | tee "$out/summary.txt"
