#!/usr/bin/env python3
"""The reference job written plainly in PyTorch: the peer that vggtl_train is timed against.

Same data, base and head as vggtl_train's defaults: images listed like Keras's
flow_from_directory, decoded with Pillow, NEAREST-resized to 224, caffe-preprocessed (BGR minus
the ImageNet means); VGG16 conv base (Keras weights converted from the .h5 file when given, else
random He init); head Flatten -> Dense 64 ReLU -> BatchNorm (momentum 0.99 in Keras terms, eps
1e-3) -> Dropout 0.5 -> Dense N; softmax cross-entropy; Adam lr 1e-4, eps 1e-7; batches of 30;
20 epochs; best epoch by val_loss; test accuracy of the best weights.

Like the Keras tutorial, the frozen base runs every epoch (under no_grad); --feature-cache
computes it once instead. Prints stage timings and one final line:
  torch_reference_job | <device> | total <s> s | test accuracy <acc> (<k>/<n>)
Usage: torch_reference_job.py --data DIR [--weights FILE.h5] [--device cuda|cpu]
       [--epochs 20] [--batch-size 30] [--precision fp32|tf32|bf16] [--feature-cache]
"""
import argparse
import copy
import os
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff")
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
KERAS_CONV_NAMES = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
                    "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3",
                    "block5_conv1", "block5_conv2", "block5_conv3"]


def list_split(root, classes=None):
    if classes is None:
        classes = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    items = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for f in sorted(filenames):
                if f.lower().endswith(EXTENSIONS):
                    items.append((os.path.join(dirpath, f), label))
    return classes, items


def load_images(items, size):
    x = np.empty((len(items), size, size, 3), dtype=np.float32)
    for i, (path, _) in enumerate(items):
        img = Image.open(path)
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.NEAREST)
        x[i] = np.asarray(img, dtype=np.float32)[..., ::-1] - CAFFE_MEAN_BGR
    y = np.array([label for _, label in items], dtype=np.int64)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)


def vgg16_base(weights):
    layers, convs, cin = [], [], 3
    for v in VGG16_CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            conv = nn.Conv2d(cin, v, 3, padding=1)
            nn.init.kaiming_uniform_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            convs.append(conv)
            cin = v
    if weights:
        import h5py
        with h5py.File(weights, "r") as f:
            root = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            for conv, name in zip(convs, KERAS_CONV_NAMES):
                group = root[name]
                names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
                kernel, bias = np.asarray(group[names[0]]), np.asarray(group[names[1]])
                conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                conv.bias.data = torch.from_numpy(bias.copy())
    base = nn.Sequential(*layers)
    for p in base.parameters():
        p.requires_grad_(False)
    return base


class Head(nn.Module):
    def __init__(self, n_classes, hidden=64, dropout=0.5):
        super().__init__()
        self.fc = nn.Linear(7 * 7 * 512, hidden)
        self.bn = nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)
        for lin in (self.fc, self.out):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, features_nchw):
        x = features_nchw.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten order (NHWC)
        return self.out(self.drop(self.bn(torch.relu(self.fc(x)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=30)
    ap.add_argument("--precision", default="tf32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--feature-cache", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t_start = time.perf_counter()
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    timings = {}

    t = time.perf_counter()
    classes, train_items = list_split(os.path.join(args.data, "train"))
    _, valid_items = list_split(os.path.join(args.data, "valid"), classes)
    test_dir = os.path.join(args.data, "test")
    _, test_items = list_split(test_dir, classes) if os.path.isdir(test_dir) else (classes, [])
    splits = {"train": load_images(train_items, 224), "valid": load_images(valid_items, 224)}
    if test_items:
        splits["test"] = load_images(test_items, 224)
    timings["decode"] = time.perf_counter() - t

    t = time.perf_counter()
    base = vgg16_base(args.weights).to(dev).to(memory_format=torch.channels_last).eval()
    head = Head(len(classes)).to(dev)
    timings["weights"] = time.perf_counter() - t

    def features(x):
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            return base(x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)).float()

    cache = {}
    if args.feature_cache:
        t = time.perf_counter()
        for name, (x, _) in splits.items():
            cache[name] = torch.cat([features(x[i:i + 64]) for i in range(0, len(x), 64)])
        timings["base_forward"] = time.perf_counter() - t

    def batches(name, order):
        x, y = splits[name]
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            f = cache[name][idx.to(dev)] if cache else features(x[idx])
            yield f, y[idx].to(dev)

    opt = torch.optim.Adam(head.parameters(), lr=1e-4, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    best, best_state = float("inf"), None
    t = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        te = time.perf_counter()
        head.train()
        tot, correct, loss_sum = 0, 0, 0.0
        for f, y in batches("train", torch.randperm(len(splits["train"][1]))):
            logits = head(f)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            (loss / len(y)).backward()
            opt.step()
            loss_sum += loss.item()
            correct += (logits.argmax(1) == y).sum().item()
            tot += len(y)
        head.eval()
        vtot, vcorrect, vloss = 0, 0, 0.0
        with torch.no_grad():
            for f, y in batches("valid", torch.arange(len(splits["valid"][1]))):
                logits = head(f)
                vloss += loss_fn(logits, y).item()
                vcorrect += (logits.argmax(1) == y).sum().item()
                vtot += len(y)
        print(f"epoch {epoch:2d}  loss {loss_sum / tot:.4f}  accuracy {correct / tot:.4f}  "
              f"val_loss {vloss / vtot:.4f}  val_accuracy {vcorrect / vtot:.4f}  {time.perf_counter() - te:.2f}s")
        if vloss / vtot < best:
            best, best_state = vloss / vtot, copy.deepcopy(head.state_dict())
    timings["training"] = time.perf_counter() - t

    acc_text = "no test split"
    if "test" in splits:
        head.load_state_dict(best_state)
        head.eval()
        k = n = 0
        with torch.no_grad():
            for f, y in batches("test", torch.arange(len(splits["test"][1]))):
                k += (head(f).argmax(1) == y).sum().item()
                n += len(y)
        acc_text = f"test accuracy {k / n:.4f} ({k}/{n})"
    if dev.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t_start
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    print(f"torch_reference_job | {dev} | total {total:.2f} s | {acc_text}")


if __name__ == "__main__":
    main()
