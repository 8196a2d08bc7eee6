#!/usr/bin/env python3
"""Makes a small two-class image set for trying vggtl without downloading anything.

Classes `circles` and `squares`: one filled shape per image, random size, position and colours,
on a noisy background; half the files are JPEG (some grayscale, some progressive), half PNG
(RGB, palette or grayscale), sizes vary so that every image is resized. Layout:
  OUT/train/{circles,squares}/*, OUT/valid/..., OUT/test/...
Usage: make_demo_data.py OUT [--train 60] [--valid 20] [--test 30] [--seed 1]  (per class)
"""
import argparse
import os
import random

from PIL import Image, ImageDraw, ImageFilter


def draw(kind, rng):
    w, h = rng.randint(96, 200), rng.randint(96, 200)
    bg = tuple(rng.randint(0, 255) for _ in range(3))
    img = Image.effect_noise((w, h), rng.uniform(10, 40)).convert("RGB")
    img = Image.blend(Image.new("RGB", (w, h), bg), img, 0.3)
    d = ImageDraw.Draw(img)
    size = rng.uniform(0.35, 0.7) * min(w, h)
    cx, cy = rng.uniform(size / 2, w - size / 2), rng.uniform(size / 2, h - size / 2)
    fg = tuple((c + rng.randint(90, 165)) % 256 for c in bg)
    box = [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]
    if kind == "circles":
        d.ellipse(box, fill=fg)
    else:
        d.rectangle(box, fill=fg)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))


def save(img, path_base, rng):
    r = rng.random()
    if r < 0.35:
        img.save(path_base + ".jpg", quality=rng.randint(70, 95))
    elif r < 0.45:
        img.convert("L").save(path_base + ".jpeg", quality=90)
    elif r < 0.5:
        img.save(path_base + ".JPG", quality=85, progressive=True)
    elif r < 0.8:
        img.save(path_base + ".png")
    elif r < 0.9:
        img.convert("P", palette=Image.ADAPTIVE).save(path_base + ".png")
    else:
        img.convert("L").save(path_base + ".png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=60)
    ap.add_argument("--valid", type=int, default=20)
    ap.add_argument("--test", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for split, n in (("train", args.train), ("valid", args.valid), ("test", args.test)):
        for kind in ("circles", "squares"):
            folder = os.path.join(args.out, split, kind)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                save(draw(kind, rng), os.path.join(folder, f"{kind}_{i:03d}"), rng)
    print(f"demo data: {2 * (args.train + args.valid + args.test)} images in {args.out}")


if __name__ == "__main__":
    main()
