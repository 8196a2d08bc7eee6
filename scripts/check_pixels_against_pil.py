#!/usr/bin/env python3
"""Checks that vggtl feeds the network exactly what Keras feeds it, image by image.

For every image file found recursively under FOLDER (the same files, in the same order, that
bench_decode lists), this compares vggtl's decoded + resized + preprocessed row with what
Keras computes for it: load_img(path, target_size=(S, S), interpolation=...) -> img_to_array
-> vgg16.preprocess_input (caffe). Equality is exact (float32 bit patterns), not approximate.

vggtl's side comes from `bench_decode FOLDER --dump FILE`, which writes the rows the input
pipeline produces (the same code path as training) and one status line per file; this keeps the
check honest without a separate tool. Keras's side is reproduced with Pillow and numpy from
keras/utils/image_utils.py and keras/applications/imagenet_utils.py (tf.keras 2.x): open with
PIL, convert('RGB') unless already RGB, resize((S, S), filter) only if the size differs,
np.asarray(float32), reverse the channels, subtract 103.939, 116.779, 123.68 in float32.
Known, deliberate differences are reported separately: 16-bit sources (vggtl rounds v/257,
PIL clips or truncates), and files vggtl rejects that PIL would open (JPEG data that libjpeg
pads with grey).

tests/io/test_pil_pixels.cpp runs it on generated images of every format (skipped, saying why,
where Python lacks Pillow and numpy); run it by hand on real folders.
Usage: scripts/check_pixels_against_pil.py FOLDER [--bench build/bench/bench_decode]
           [--image-size 224] [--interpolation nearest|bilinear|both]
Exit status: 0 when every image both sides decode is identical (and there is one), 1 otherwise,
2 on bad usage.
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR}
CAFFE_MEAN = (103.939, 116.779, 123.68)


def keras_row(path, size, interpolation):
    """Keras's load_img + img_to_array + preprocess_input('caffe'), channels_last."""
    with open(path, "rb") as f:
        img = Image.open(io.BytesIO(f.read()))
        args = img.tile[0][3] if img.tile else ""
        rawmode = args[0] if isinstance(args, tuple) else args
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), FILTERS[interpolation])
        x = np.asarray(img, dtype=np.float32)
    x = x[..., ::-1].copy()
    for c in range(3):
        x[..., c] -= np.float32(CAFFE_MEAN[c])
    return x, "16" in str(rawmode)


def run(folder, bench, size, interpolation):
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "rows.f32")
        cmd = [bench, folder, "--dump", dump, "--image-size", str(size), "--interpolation", interpolation]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(dump + ".txt", encoding="utf-8", errors="surrogateescape") as f:
            entries = [line.rstrip("\n").split("\t", 2) for line in f]
        rows = np.fromfile(dump, dtype=np.float32).reshape(len(entries), size, size, 3)

    same, differ, expected_diff, rejected_also_by_pil, rejected_only_by_us, pil_only_fails = 0, [], [], [], [], []
    for i, (rel, ok, reason) in enumerate(entries):
        path = os.path.join(folder, rel)
        try:
            want, sixteen = keras_row(path, size, interpolation)
            pil_error = None
        except Exception as e:  # what Keras would raise mid-epoch
            pil_error = f"{type(e).__name__}: {e}"
        if ok != "1":
            (rejected_also_by_pil if pil_error else rejected_only_by_us).append(f"{rel}: {reason}")
            continue
        if pil_error:
            pil_only_fails.append(f"{rel}: {pil_error}")
            continue
        got = rows[i]
        if np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            same += 1
            continue
        delta = np.abs(got - want)
        note = f"{rel}: {int((delta > 0).any(axis=-1).sum())} pixels differ, max |diff| {delta.max():g}"
        (expected_diff if sixteen else differ).append(note)

    decoded_both = same + len(differ) + len(expected_diff)
    print(f"{interpolation} {size}x{size}: {len(entries)} files; {same} of {decoded_both} decoded by both "
          f"are identical to Keras's input")
    for title, items in (("DIFFERENT", differ),
                         ("different by design (16-bit source: v/257 rounded in vggtl)", expected_diff),
                         ("rejected by vggtl, opened by PIL (stricter JPEG checks or an undecoded variant)", rejected_only_by_us),
                         ("rejected by both", rejected_also_by_pil),
                         ("decoded by vggtl, PIL fails", pil_only_fails)):
        if items:
            print(f"  {title}: {len(items)}")
            for line in items[:20]:
                print(f"    {line}")
            if len(items) > 20:
                print(f"    ... and {len(items) - 20} more")
    if decoded_both == 0:
        print("  nothing was decoded by both sides: nothing compared")
    return decoded_both > 0 and not differ and not pil_only_fails


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder")
    p.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "bench_decode"))
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--interpolation", choices=["nearest", "bilinear", "both"], default="both")
    a = p.parse_args()
    if not os.path.isdir(a.folder) or not os.access(a.bench, os.X_OK):
        print(f"need a folder and an executable bench_decode (got {a.folder}, {a.bench})", file=sys.stderr)
        return 2
    modes = ["nearest", "bilinear"] if a.interpolation == "both" else [a.interpolation]
    ok = all([run(a.folder, a.bench, a.image_size, m) for m in modes])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
