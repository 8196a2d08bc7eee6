#!/usr/bin/env python3
"""Makes a small two-class image set for trying vggtl without downloading anything.

Classes `horizontal` and `vertical`: stripes of random width, phase, colours and a tilt of up
to 15 degrees, with noise and a random disc drawn over them; half the files are JPEG (some
grayscale, some progressive), half PNG (RGB, palette or grayscale), sizes vary so that every
image is resized. Layout: OUT/train/{horizontal,vertical}/*, OUT/valid/..., OUT/test/...
Usage: make_demo_data.py OUT [--train 60] [--valid 20] [--test 30] [--seed 1]  (per class)
"""
import argparse
import os
import random


from PIL import Image, ImageDraw, ImageFilter


def draw(kind, rng):
    w, h = rng.randint(96, 200), rng.randint(96, 200)
    bg = tuple(rng.randint(0, 255) for _ in range(3))
    fg = tuple((c + rng.randint(90, 165)) % 256 for c in bg)
    # Stripes drawn on a canvas large enough to rotate without empty corners.
    side = 2 * max(w, h)
    canvas = Image.new("RGB", (side, side), bg)
    d = ImageDraw.Draw(canvas)
    period = rng.uniform(10, 28)
    y = rng.uniform(0, period)
    while y < side:
        d.rectangle([0, y, side, y + period / 2], fill=fg)
        y += period
    angle = rng.uniform(-15, 15) + (90 if kind == "vertical" else 0)
    canvas = canvas.rotate(angle, resample=Image.BILINEAR)
    img = canvas.crop(((side - w) // 2, (side - h) // 2, (side - w) // 2 + w, (side - h) // 2 + h))
    noise = Image.effect_noise((w, h), rng.uniform(10, 40)).convert("RGB")
    img = Image.blend(img, noise, 0.2)
    r = rng.uniform(0.1, 0.25) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))


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
        for kind in ("horizontal", "vertical"):
            folder = os.path.join(args.out, split, kind)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                save(draw(kind, rng), os.path.join(folder, f"{kind}_{i:03d}"), rng)
    print(f"demo data: {2 * (args.train + args.valid + args.test)} images in {args.out}")


if __name__ == "__main__":
    main()
