#!/usr/bin/env bash
# Fine-tuning throughput over MPI processes: block5 + head trained (--trainable-from
# block5_conv1), batch 30, 224x224, on the CPU, one process against `mpiexec -n 2
# --distributed-train` in the same run. Prints one line per configuration: the epoch's seconds
# (history.csv; training and validation) and training images per second, the median of the
# repeats. The base is random (--weights none): throughput does not depend on the values.
# Usage: bench/mpi_finetune.sh [BUILD_DIR] [REPEATS]     (default build, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-2}
train=$build/bin/vggtl_train
[[ -x $train ]] || { echo "mpi_finetune: $train not built" >&2; exit 2; }
command -v mpiexec >/dev/null || { echo "mpi_finetune: mpiexec not found (openmpi-bin)" >&2; exit 2; }
py=${VGGTL_PYTHON:-}
if [[ -z $py ]]; then  # the interpreter with Pillow (another python3 may come first on PATH)
  for c in python3 /usr/bin/python3; do "$c" -c "import PIL" 2>/dev/null && { py=$c; break; }; done
fi
[[ -n $py ]] || { echo "mpi_finetune: no python3 with Pillow (python3-pil) to draw the images" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# 60 training and 30 validation images: two steps of 30 per epoch.
"$py" scripts/make_demo_data.py "$work/data" --train 30 --valid 15 --test 0 --seed 3 >/dev/null
rm -rf "$work/data/test"  # no test split: the epoch is what is measured
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(--data "$work/data" --weights none --image-size 224 --epochs 1 --batch-size 30 --trainable-from block5_conv1
      --device cpu --quiet --seed 1)
echo "fine-tuning block5 + head, batch 30, 224x224, CPU ($(nproc) cores): 60 train + 30 valid images per epoch"
measure() {  # label, then the command prefix (empty for one process), then extra arguments
  local label=$1; shift
  local -a prefix=() extra=()
  while [[ $# -gt 0 && $1 != -- ]]; do prefix+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  extra=("$@")
  local secs=()
  for r in $(seq 1 "$repeats"); do
    local out=$work/run_${label// /_}_$r
    "${prefix[@]}" "$train" "${args[@]}" "${extra[@]}" --out "$out" >/dev/null 2>"$work/err" ||
      { cat "$work/err" >&2; exit 1; }
    secs+=("$(awk -F, 'NR == 2 { print $NF }' "$out/history.csv")")
  done
  local median
  median=$(printf '%s\n' "${secs[@]}" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  awk -v l="$label" -v s="$median" -v all="${secs[*]}" \
    'BEGIN { printf "%-40s | epoch %.2f s (runs: %s) | %.1f trained img/s, validation included\n", l, s, all, 60 / s }'
}
measure "np 1 (one process, ${OMP_NUM_THREADS:-all} threads)" --
measure "np 2 --distributed-train (1 thread each)" mpiexec --oversubscribe -n 2 -x OMP_NUM_THREADS=1 -- \
  --distributed-train
