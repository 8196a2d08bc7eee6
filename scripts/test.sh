#!/usr/bin/env bash
# Command (2): installs what is missing, builds and runs the whole test suite, twice, then fuzzes:
#   build/       the default configuration (CUDA backend when the toolkit is found, Release),
#                and the Python module built in it for the pytest suite (scripts/test_python.sh);
#   build-asan/  the CPU-only configuration with AddressSanitizer + UndefinedBehaviorSanitizer:
#                every test again but the cross-checks against other programs and 12 of the 14
#                mpiexec tests (below);
#   build-fuzz/  the libFuzzer harnesses (clang, io and engine only), 20 s each, one per core at a
#                time (scripts/fuzz.sh):
#                a crash, hang, leak or UB fails the command and names the input to keep.
# Both builds are unity builds (a third less compile time from a clean clone on two cores: 180 ->
# 119 s for the CPU-only Release tree), so file-local names must not clash with those of another
# file of the same library or test folder (the compiler names both).
# GPU tests (CTest label gpu) skip with their reason on a machine without a GPU.
# Usage: scripts/test.sh [--no-asan] [--no-fuzz] [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."

asan=1
fuzz=1
install=1
for a in "$@"; do
  case "$a" in
    --no-asan) asan=0 ;;
    --no-fuzz) fuzz=0 ;;
    --no-install) install=0 ;;
    *) echo "usage: scripts/test.sh [--no-asan] [--no-fuzz] [--no-install]" >&2; exit 2 ;;
  esac
done

start=$SECONDS
stamp() { echo "   ($(( SECONDS - start )) s so far)"; }
[[ $install -eq 1 ]] && scripts/install_deps.sh
jobs=$(nproc)
# The interpreter with h5py, Pillow and numpy for the cross-checks (another python3 may come
# first on PATH).
if [[ -z "${VGGTL_PYTHON:-}" ]]; then
  for py in python3 /usr/bin/python3; do
    if "$py" -c "import h5py, PIL, numpy" 2>/dev/null; then export VGGTL_PYTHON=$py; break; fi
  done
fi

# The real Keras for tests/apps/test_keras_reference.cpp: tensorflow-cpu, tf-keras and Keras 3
# in a venv made once outside the repository (scripts/keras_venv.sh: about 1.5-3 minutes and
# 2.3 GB the first time, then cached). Under CI a venv that cannot be made fails the command;
# elsewhere that test skips, saying why.
if [[ -z "${VGGTL_KERAS_PYTHON:-}" ]]; then
  if keras_python=$(scripts/keras_venv.sh | tail -1); then
    export VGGTL_KERAS_PYTHON=$keras_python
  elif [[ -n "${CI:-}" ]]; then
    echo "test.sh: the Keras venv could not be made (scripts/keras_venv.sh)" >&2
    exit 1
  else
    echo "test.sh: no Keras venv (scripts/keras_venv.sh failed); the Keras reference test will skip" >&2
  fi
fi

# A compiler cache outside the repository, shared by every tree and checkout (ccache; CMake takes
# the launchers from the environment when it configures a tree): a rebuild of what was built
# before, in this clone or another, takes minutes less. The base directory and no hashed working
# directory make a clone elsewhere hit the same entries; the sloppiness lets precompiled headers be
# cached.
if command -v ccache >/dev/null; then
  export CCACHE_DIR=${CCACHE_DIR:-${VGGTL_CACHE_DIR:-$HOME/.cache/vggtl}/ccache} CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1 \
         CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-6G}
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_CUDA_COMPILER_LAUNCHER=ccache
  ccache --zero-stats >/dev/null
fi

stamp

echo "== default configuration (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build build -j "$jobs"
stamp
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600
stamp
echo "== the Python package (python/tests: module in build/, and a wheel in a clean venv)"
scripts/test_python.sh build

if [[ $asan -eq 1 ]]; then
  stamp
  echo "== CPU-only configuration with sanitizers (build-asan/)"
  # -O0 -g1: sanitizer reports with line numbers; -O0 halves this tree's compile time (220 ->
  # 113 s on two cores), and -O1 for engine, kernels and layers keeps its tests at 99 s (136 s
  # all at -O0, 92 s all at -O1).
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
        -DCMAKE_C_FLAGS_DEBUG="-O0 -g1" -DVGGTL_COMPUTE_FLAGS=-O1 -DVGGTL_CUDA=OFF -DVGGTL_SANITIZE=ON \
        -DVGGTL_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  stamp
  # Every test but those a sanitizer adds nothing to, which the default tree runs: the cross-checks
  # against other programs (Keras, PyTorch, onnxruntime, torchvision's ONNX export: what they add is
  # agreement with another program's numbers), and 12 of the 14 mpiexec tests (225 s of this
  # tree's 790 test seconds), whose MPI code paths the two kept here walk too (features on every
  # rank, distributed fine-tuning with augmentation and the f16 cache, an interrupted two-process
  # run and its resume). One ctest run, so that the long tests share the cores with the rest.
  cross_checks='^(KerasReference|FineTuneReference)\.|^OnnxApp\.BestOnnxGivesTheRunsTestPredictionsInOnnxruntime$|^OnnxWeights\.TorchvisionExport'
  mpi_left='^MpiApp\.(FeaturesAre|MoreProcesses|MissingOrStale|ShardsRun|TrainingGathered|DistributedTraining|CtrlCOfMpiexec|AnMpmd|OnlyRankZero|BadFiles|AFailingRank)'
  # oneDNN and OpenMP are not instrumented; their thread pools' allocations are not leaks of ours.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
         LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp
  ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900 -E "$cross_checks|$mpi_left"
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi
if [[ $fuzz -eq 1 ]]; then
  stamp
  echo "== fuzzing the decoders, HDF5 readers and ONNX reader (build-fuzz/, 20 s per harness)"
  scripts/fuzz.sh 20
fi
if command -v ccache >/dev/null; then
  ccache --print-stats | awk '$1 ~ /^(direct|preprocessed)_cache_hit$/ {h += $2} $1 == "cache_miss" {m += $2}
                              END {print "compiler cache: " h " hits, " m " misses"}'
fi
echo "== all tests passed in $(( SECONDS - start )) s"
