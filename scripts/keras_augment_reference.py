#!/usr/bin/env python3
"""Keras ImageDataGenerator.apply_transform, reproduced with scipy.ndimage and Pillow, for
checking vggtl's augmentation (kernels/augment.h) image by image.

The maths follows tf.keras 2.x keras/preprocessing/image.py: apply_affine_transform (rotation,
then shift, then zoom, composed as float64 3x3 matrices about the image centre, rows and
columns swapped for (row, col) indexing, each channel through scipy.ndimage.affine_transform with
order=1 and mode='nearest', stored back as float32), then the horizontal flip, then
apply_brightness_shift(x, brightness, scale=False): array_to_img (astype('uint8') unless the
values leave 0..255, which would rescale them), ImageEnhance.Brightness(...).enhance(brightness),
img_to_array (float32). Shear, vertical flip and channel shift are left out, as vggtl offers them
not.

Input: IN (raw float32, n*h*w*3, RGB 0..255, row-major (n, h, w, 3)) and PARAMS, a JSON file
{"n": n, "h": h, "w": w, "images": [{"theta", "tx", "ty", "zx", "zy", "flip", "brightness"}]}
(brightness null when not drawn). Output: OUT, the transformed images as raw float32 in the same
layout. tests/kernels/test_augment.cpp writes the inputs and compares.
Usage: scripts/keras_augment_reference.py IN PARAMS OUT
Exit status: 0 on success, 2 on bad usage.
"""
import json
import sys

import numpy as np
from scipy import ndimage
from PIL import Image, ImageEnhance


def centred(matrix, h, w):
    o_x = float(h) / 2 - 0.5
    o_y = float(w) / 2 - 0.5
    to_centre = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    from_centre = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(to_centre, matrix), from_centre)


def affine(x, theta, tx, ty, zx, zy):
    """apply_affine_transform for a channels-last image (row axis 0, column axis 1)."""
    m = None
    if theta != 0:
        t = np.deg2rad(theta)
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        s = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        m = s if m is None else np.dot(m, s)
    if zx != 1 or zy != 1:
        z = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        m = z if m is None else np.dot(m, z)
    if m is None:
        return x
    h, w = x.shape[0], x.shape[1]
    m = centred(m, h, w)
    # The matrix is written for (x, y); the array is indexed (row, col).
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    channels = np.rollaxis(x, 2, 0)
    out = [ndimage.affine_transform(c, m[:2, :2], m[:2, 2], order=1, mode="nearest", cval=0.0) for c in channels]
    return np.rollaxis(np.stack(out, axis=0), 0, 3)


def brightness_shift(x, brightness):
    """apply_brightness_shift(x, brightness, scale=False) with Keras's array_to_img rules."""
    x_min, x_max = np.min(x), np.max(x)
    local_scale = (x_min < 0) or (x_max > 255)
    y = np.asarray(x, dtype=np.float32)
    if local_scale:
        y = y - np.min(y)
        y_max = np.max(y)
        if y_max != 0:
            y /= y_max
        y *= 255
    img = Image.fromarray(y.astype("uint8"), "RGB")
    img = ImageEnhance.Brightness(img).enhance(brightness)
    out = np.asarray(img, dtype=np.float32)
    if local_scale:
        out = out / 255 * (x_max - x_min) + x_min
    return out


def apply_transform(x, p):
    x = affine(x, p["theta"], p["tx"], p["ty"], p["zx"], p["zy"])
    if p["flip"]:
        x = x[:, ::-1, :]
    if p.get("brightness") is not None:
        x = brightness_shift(x, p["brightness"])
    return np.asarray(x, dtype=np.float32)


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        spec = json.load(f)
    n, h, w = spec["n"], spec["h"], spec["w"]
    x = np.fromfile(argv[1], dtype=np.float32)
    if x.size != n * h * w * 3 or len(spec["images"]) != n:
        print(f"{argv[1]}: {x.size} values and {len(spec['images'])} parameter sets for {n} images "
              f"of {h}x{w}x3", file=sys.stderr)
        return 2
    x = x.reshape(n, h, w, 3)
    out = np.stack([apply_transform(x[i].copy(), spec["images"][i]) for i in range(n)])
    out.astype(np.float32).tofile(argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
