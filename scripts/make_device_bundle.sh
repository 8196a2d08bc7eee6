#!/usr/bin/env bash
# Builds vggtl for the GPU machine and packs what scripts/device_check.sh needs into
# .device_bundle/bundle.tar.xz (ignored by git): Release binaries for sm_90 (tests, benches,
# apps; stripped), the non-CUDA shared libraries they load (the ldd closure minus the C
# library, the CUDA libraries and NCCL, which come from the GPU machine's PyTorch wheels; the
# C++ runtime apart, as a fallback) and a copy of the sample data. About 35 MB.
# It builds in build/ (VGGTL_BUILD_DIR overrides), the configuration scripts/test.sh builds
# there, so a tested tree is bundled without a second build.
# Usage: scripts/make_device_bundle.sh [DATA_DIR]; then, on the GPU machine, with
# .device_bundle carried along: scripts/device_check.sh [--tests] [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dogs_vs_cats}
out=.device_bundle
build=${VGGTL_BUILD_DIR:-build}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVGGTL_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build "$build" -j "$(nproc)"

rm -rf "$out/stage"
mkdir -p "$out/stage"/{bin,tests,bench,lib,lib-fallback}
cp "$build"/bin/* "$out/stage/bin/"
find "$build/tests" -maxdepth 1 -type f -executable -name 'test_*' -exec cp {} "$out/stage/tests/" \;
find "$build/bench" -maxdepth 1 -type f -executable -name 'bench_*' -exec cp {} "$out/stage/bench/" \;
strip --strip-unneeded "$out"/stage/{bin,tests,bench}/* 2>/dev/null || true

# Shared libraries the binaries need, except libc & co and the CUDA libraries.
skip='^(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|ld-linux|libcuda\.so|libcudnn|libcublas|libcudart|libnvrtc|libnccl)'
for f in "$out"/stage/{bin,tests,bench}/*; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $1" "$3}'
done | sort -u | while read -r name path; do
  if [[ "$name" =~ ^(libstdc\+\+|libgcc_s) ]]; then
    # The GPU machine's own C++ runtime is normally newer; these serve only if it is older.
    cp -L "$path" "$out/stage/lib-fallback/"
  elif ! [[ "$name" =~ $skip ]]; then
    cp -L "$path" "$out/stage/lib/"
  fi
done

if [[ -d "$data" ]]; then
  mkdir -p "$out/stage/data"
  cp -r "$data" "$out/stage/data/"
fi
tar -C "$out/stage" -cJf "$out/bundle.tar.xz" .
rm -rf "$out/stage"
echo "bundle: $(du -h "$out/bundle.tar.xz" | cut -f1) in $out/bundle.tar.xz"
