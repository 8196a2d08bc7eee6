#!/usr/bin/env python3
"""Runs a run folder's best.onnx with onnxruntime on the images listed in its
test_predictions.csv and compares the probabilities with the ones vggtl wrote there.

The images are prepared as Keras's load_img does (Pillow: convert('RGB') unless RGB, resize
to the model's size with the run's filter when the size differs), given as float32 RGB 0..255:
the caffe preprocessing, when the run used it, is inside the graph (see the model's metadata).
Prints the largest difference; exits 1 when it is above --tolerance, 2 on bad input.

Usage: check_onnx_predictions.py RUN_FOLDER TEST_FOLDER [--tolerance 1e-5] [--batch 16]
"""
import argparse
import csv
import io
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR}


def load(path, size, interpolation):
    with open(path, "rb") as f:
        img = Image.open(io.BytesIO(f.read()))
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), FILTERS[interpolation])
        return np.asarray(img, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("test")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    model = os.path.join(a.run, "best.onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    size, interpolation = int(meta["image_size"]), meta["interpolation"]
    classes = json.loads(meta["class_names"])
    with open(os.path.join(a.run, "test_predictions.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print("no rows in test_predictions.csv", file=sys.stderr)
        return 2
    worst, worst_row, disagreements = 0.0, None, 0
    for start in range(0, len(rows), a.batch):
        chunk = rows[start:start + a.batch]
        x = np.stack([load(os.path.join(a.test, r["path"]), size, interpolation) for r in chunk])
        probs = sess.run(["probabilities"], {"image": x})[0]
        for r, p in zip(chunk, probs):
            ours = np.array([float(r["p_" + c]) for c in classes])
            d = float(np.max(np.abs(p.astype(np.float64) - ours)))
            if d > worst:
                worst, worst_row = d, r["path"]
            disagreements += classes[int(np.argmax(p))] != r["predicted"]
    print(f"{len(rows)} images: largest |onnxruntime - vggtl| probability difference {worst:.3g}"
          f" ({worst_row}); {disagreements} predicted classes differ")
    return 0 if worst <= a.tolerance and disagreements == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
