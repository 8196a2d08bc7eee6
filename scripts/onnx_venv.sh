#!/usr/bin/env bash
# Prints the path of a Python interpreter with onnxruntime, numpy and Pillow: a virtual
# environment in ~/.cache/vggtl/onnx-venv (made on first use with pip from PyPI, on top of the
# system's python3 and its packages), used by the ONNX cross-checks (scripts/check_onnx_*.py,
# tests/apps/test_onnx_app.cpp). Exits 1, saying why on stderr, when it cannot be made.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/vggtl/onnx-venv"
check='import onnxruntime, numpy, PIL'
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi
py=""
for p in python3 /usr/bin/python3; do "$p" -c 'import venv, PIL, numpy' 2>/dev/null && { py=$p; break; }; done
if [[ -z "$py" ]]; then
  echo "onnx_venv: no python3 with venv, numpy and Pillow (scripts/install_deps.sh installs them)" >&2
  exit 1
fi
mkdir -p "$(dirname "$venv")"
tmp="$venv.tmp$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# --system-site-packages: numpy and Pillow come from the distribution, as in the other checks.
if ! "$py" -m venv --system-site-packages "$tmp" >&2 || ! "$tmp/bin/python" -m pip install --quiet onnxruntime >&2; then
  echo "onnx_venv: could not make $venv (pip install onnxruntime failed)" >&2
  exit 1
fi
rm -rf "$venv"
mv "$tmp" "$venv"
# A venv records its own path: recreate the activation paths by re-running venv in place.
"$py" -m venv --system-site-packages "$venv" >&2
"$venv/bin/python" -c "$check" || { echo "onnx_venv: $venv lacks onnxruntime after install" >&2; exit 1; }
echo "$venv/bin/python"
