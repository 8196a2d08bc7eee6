#!/usr/bin/env bash
# Makes, once, the Python environment holding the real Keras that the Keras cross-checks
# (tests/apps/test_keras_reference.cpp) run: tensorflow-cpu with tf-keras (Keras 2, selected for
# tf.keras by TF_USE_LEGACY_KERAS=1) and Keras 3 (`import keras`), from PyPI, pinned. It lives
# outside the repository, in ${VGGTL_CACHE:-~/.cache/vggtl}/keras-venv (about 2.3 GB, 1.5-3 minutes
# the first time); later calls find it complete and return at once. Prints the venv's python on
# the last line of stdout (progress goes to stderr). Usage: scripts/keras_venv.sh
set -euo pipefail

tf_version=2.21.0
keras_version=3.15.1
tf_keras_version=2.21.0
# scipy: tf-keras's ImageDataGenerator calls into it even with no augmentation.
want="tensorflow-cpu==$tf_version tf-keras==$tf_keras_version keras==$keras_version scipy==1.17.1 h5py==3.14.0
      numpy==2.4.6 pillow==13.0.0"
want=$(echo $want)  # one line, single spaces (the stamp compares it)

cache=${VGGTL_CACHE:-$HOME/.cache/vggtl}
venv=$cache/keras-venv
stamp=$venv/.vggtl-complete

if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

# The base interpreter: the one given, or the first python3 (3.9 to 3.13, the versions these
# wheels exist for) that can make a venv.
base=${VGGTL_KERAS_BASE_PYTHON:-}
if [[ -z $base ]]; then
  for py in /usr/bin/python3 python3; do
    if "$py" -c "import sys, venv, ensurepip; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 13)))" \
        2>/dev/null; then
      base=$py
      break
    fi
  done
fi
if [[ -z $base ]]; then
  echo "keras_venv: no python3 between 3.9 and 3.13 with the venv module (Debian: python3-venv)" >&2
  exit 1
fi

mkdir -p "$cache"
# A half-made venv (an interrupted earlier call) is made again from scratch, in a temporary
# folder that replaces the old one only when complete.
tmp=$cache/keras-venv.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
echo "keras_venv: making $venv ($want), about 1.5-3 minutes and 2.3 GB the first time" >&2
"$base" -m venv "$tmp" >&2
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
  $want >&2
# Moved into place whole: a venv's interpreter finds its packages relative to itself (only the
# bin/ scripts, unused here, record the temporary path).
echo "$want" > "$tmp/.vggtl-complete"
rm -rf "$venv"
mv "$tmp" "$venv"
trap - EXIT
echo "$venv/bin/python"
