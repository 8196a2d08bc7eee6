#!/usr/bin/env bash
# On a bare GPU machine: unpack the bundle from scripts/make_device_bundle.sh, check that it
# starts, run every GPU test, the benchmarks in quick mode, the PyTorch peers and the whole
# reference job on the sample data, then print one summary table. Aim: under 6 minutes.
# Usage (repository root on the GPU machine): scripts/device_check.sh [--full]
# Results go to $OUT (when set) or ./device_out: logs and summary.txt.
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

# 1. Sanity: the GPU, the bundle, the libraries.
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
tar -C "$work" -xJf .device_bundle/bundle.tar.xz || { echo "no bundle"; exit 1; }
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
export LD_LIBRARY_PATH="$work/lib:$pylibs:${LD_LIBRARY_PATH:-}"
export VGGTL_TEST_TMPDIR="$work/tmp"
mkdir -p "$VGGTL_TEST_TMPDIR"
if ! "$work/bin/vggtl_train" --version | tee "$out/version.txt"; then
  ldd "$work/bin/vggtl_train" | tee "$out/ldd.txt"
  note "FAIL: the bundled binary does not start (see ldd.txt)"
  printf '%s\n' "${summary[@]}" > "$out/summary.txt"
  exit 1
fi

# 2. Every GPU test (the binaries run directly: CTest files hold paths of the build machine).
fails=0
for t in "$work"/tests/test_*; do
  name=$(basename "$t")
  if ! "$t" --gtest_filter='*Gpu*' --gtest_brief=1 > "$out/$name.log" 2>&1; then
    fails=$((fails + 1))
    note "FAIL: $name (see $name.log)"
  fi
done
total=$(cat "$out"/test_*.log | grep -c '^\[       OK \]\|^\[  FAILED  \]' || true)
note "gpu tests: $fails binaries failing"

# 3. Benchmarks (quick) and peers.
for b in "$work"/bench/bench_*; do
  timeout 120 "$b" $quick --gpu-only >> "$out/bench.txt" 2>&1 || note "bench failed: $(basename "$b")"
done
timeout 120 python3 bench/peers/torch_vgg16.py $quick >> "$out/bench.txt" 2>&1 || note "torch_vgg16 peer failed"

# 4. The whole reference job, ours and the PyTorch peer, on the sample data.
data=$(ls -d "$work"/data/* 2>/dev/null | head -1)
if [[ -n "$data" ]]; then
  /usr/bin/time -v "$work/bin/vggtl_train" --data "$data" --weights none --out "$work/run" \
      > "$out/job_vggtl.txt" 2>&1 || note "vggtl_train failed"
  timeout 300 python3 bench/peers/torch_reference_job.py --data "$data" > "$out/job_torch.txt" 2>&1 \
      || note "torch_reference_job failed"
  cp "$work/run/metrics.json" "$out/" 2>/dev/null
fi

# 5. Summary, last.
{
  echo "GPU: $(cat "$out/gpu.txt")"
  printf '%s\n' "${summary[@]}"
  echo "--- benchmarks"
  grep -v '^$' "$out/bench.txt"
  echo "--- whole job"
  tail -3 "$out/job_vggtl.txt" 2>/dev/null
  tail -1 "$out/job_torch.txt" 2>/dev/null
} | tee "$out/summary.txt"
