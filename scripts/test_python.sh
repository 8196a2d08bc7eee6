#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): builds the module vggtl._vggtl in a build
# tree of the test command (default build/) against a venv kept in ~/.cache/vggtl/py-test, then
# runs pytest with the tools of that tree. The venv gets pytest, numpy, h5py, Pillow and the build
# backend (scikit-build-core, nanobind) from PyPI when they are missing; a failed install skips
# the suite with its reason, except under CI=true, where it fails.
# Usage: scripts/test_python.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cache=${VGGTL_CACHE_DIR:-$HOME/.cache/vggtl}
venv=$cache/py-test
base=/usr/bin/python3
[[ -x $base ]] || base=python3

fail_or_skip() {
  if [[ "${CI:-}" == "true" ]]; then echo "test_python.sh: $1" >&2; exit 1; fi
  echo "test_python.sh: SKIPPED: $1" >&2
  exit 0
}

packages=(pytest numpy h5py pillow scikit-build-core nanobind)
if ! "$venv/bin/python" -c "import pytest, numpy, h5py, PIL, scikit_build_core, nanobind" 2>/dev/null; then
  mkdir -p "$cache"
  "$base" -m venv "$venv" || fail_or_skip "cannot make a venv with $base (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install -q "${packages[@]}" ||
    fail_or_skip "pip could not install ${packages[*]} into $venv"
fi

cmake -S . -B "$build" -DVGGTL_PYTHON_MODULE=ON -DPython_EXECUTABLE="$venv/bin/python" >/dev/null
cmake --build "$build" --target _vggtl vggtl_train vggtl_extract vggtl_eval vggtl_predict vggtl_hdf5_check -j "$(nproc)"
start=$SECONDS
VGGTL_BIN_DIR="$PWD/$build/bin" PYTHONPATH="$PWD/$build/python" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider -rs --durations=5 python/tests
echo "== Python tests passed in $(( SECONDS - start )) s"
