#!/usr/bin/env python3
"""Exports torchvision's vgg16().features to ONNX with torch.onnx.export, as a PyTorch user would,
with seeded random weights (biases too; block3_conv3's bias equals block3_conv2's, so that the
exporter shares one initializer through an Identity node), and writes beside it a JSON file of
samples taken with torch's own permute to Keras's (H, W, in, out) order: what vggtl's ONNX
reader must find. Used by tests/io/test_onnx_weights.cpp.

Usage: torchvision_vgg16_onnx.py OUT.onnx SAMPLES.json [--image-size 32] [--seed 0]
"""
import argparse
import json

import torch
import torchvision

NAMES = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1", "block3_conv2",
         "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3", "block5_conv1", "block5_conv2",
         "block5_conv3"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx")
    ap.add_argument("samples")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    features = torchvision.models.vgg16().features.eval()
    convs = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    with torch.no_grad():
        for c in convs:
            c.bias.uniform_(-1.0, 1.0)
        convs[6].bias.copy_(convs[5].bias)
    torch.onnx.export(features, torch.zeros(1, 3, a.image_size, a.image_size), a.onnx, opset_version=13,
                      input_names=["input"], output_names=["features"])
    gen = torch.Generator().manual_seed(a.seed + 1)
    samples = {}
    for name, c in zip(NAMES, convs):
        hwio = c.weight.detach().permute(2, 3, 1, 0).contiguous()
        idx = [[int(torch.randint(0, d, (1,), generator=gen)) for d in hwio.shape] for _ in range(64)]
        samples[name] = {
            "kernel_shape": list(hwio.shape),
            "kernel": [i + [float(hwio[tuple(i)])] for i in idx],
            "bias": [float(v) for v in c.bias.detach()],
        }
    with open(a.samples, "w") as f:
        json.dump(samples, f)


if __name__ == "__main__":
    main()
