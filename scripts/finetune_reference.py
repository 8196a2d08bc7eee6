#!/usr/bin/env python3
"""A float64 PyTorch reference of vggtl_train's two-stage fine-tuning run, written from the
Keras/TF semantics vggtl documents (not from its code), for checking a whole run's history.

What it computes, for DATA/train and DATA/valid (one folder per class):
- listing: classes are the sub-folders sorted by name, labels their positions; the images of a
  class in os.walk order (directories sorted, names sorted within each), as Keras's
  flow_from_directory; batches in that order (no shuffle).
- loading: keras load_img(target_size=(S, S), interpolation='nearest'): PIL open, convert to
  RGB, resize with Image.NEAREST; img_to_array; caffe preprocessing (RGB to BGR, minus the
  ImageNet means 103.939, 116.779, 123.68).
- the VGG16 base: 13 3x3 'same' convolutions with ReLU (Keras kernels (3, 3, in, out),
  cross-correlation), 2x2 max pools of stride 2; the head: Flatten (NHWC order) -> Dense FC_2
  (ReLU) -> BatchNormalization (momentum 0.99, epsilon 1e-3; batch mean and BIASED batch
  variance in training, which also update the moving statistics as moving - (moving - stat) *
  0.01; moving statistics in evaluation) -> Dropout(0) -> Dense softmax; sparse categorical
  cross-entropy from the logits (no clipping), mean over the batch.
- Adam as tf.keras 2.x: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
  w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), b1 0.9, b2 0.999, eps 1e-7 (vggtl
  writes m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2): the same in exact arithmetic).
- stage 1: the head alone for --epochs; then the weights of the best epoch by val_loss (first
  minimum) are reloaded (BatchNorm's moving statistics too), the convs from --trainable-from up
  join the trained weights, and a fresh Adam with --fine-tune-lr runs --fine-tune-epochs more,
  numbered on. Per epoch: loss and accuracy are the per-sample means of what each training batch's
  forward pass (training mode, before its update) gave; val_loss and val_accuracy in evaluation
  mode after the epoch.

It first writes the initial weights, float32 as vggtl reads them: WEIGHTS, a Keras-1 VGG16 notop
file (the download's layout) with He-uniform kernels (block1_conv1 scaled by 1/100 so that the
caffe-preprocessed pixels, of order 100, give activations of order 1) and small random biases;
INIT, a Keras-2 full-model file holding only the head (FC_2, batch_normalization_1, softmax).
Then it reads both files back and trains from their values in float64. HISTORY gets the rows
"epoch,stage,loss,accuracy,val_loss,val_accuracy" with 17 significant digits.
tests/apps/test_finetune_reference.cpp runs it and vggtl_train on the same files and compares.

Usage: scripts/finetune_reference.py --data DATA --weights WEIGHTS --init INIT --history HISTORY
  [--image-size 64] [--batch-size 4] [--hidden 16] [--epochs 2] [--fine-tune-epochs 2]
  [--lr 1e-3] [--fine-tune-lr 1e-5] [--trainable-from block5_conv1] [--seed 1]
Exit status: 0 on success, 2 on bad usage.
"""
import argparse
import math
import os

import h5py
import numpy as np
import torch
from PIL import Image

BLOCKS = [(1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512)]
CONVS = [(f"block{b}_conv{i}", w) for b, n, w in BLOCKS for i in range(1, n + 1)]
# The layers of the download, in order: input_1, the convs, a pool after each block.
NOTOP_LAYERS = ["input_1"] + [name for b, n, _ in BLOCKS
                              for name in [f"block{b}_conv{i}" for i in range(1, n + 1)] + [f"block{b}_pool"]]
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")
CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)
HEAD = ["FC_2", "batch_normalization_1", "softmax"]


# ---- data ----

def list_split(root, classes=None):
    """(paths, labels, classes) in flow_from_directory's order."""
    if classes is None:
        classes = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    paths, labels = [], []
    for label, name in enumerate(classes):
        groups = []  # (directory, its image names sorted), then sorted by directory
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, name)):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            groups.append((dirpath, sorted(f for f in filenames if not f.startswith(".") and "." in f
                                           and f.rsplit(".", 1)[1].lower() in IMAGE_EXTENSIONS)))
        for dirpath, files in sorted(groups):
            paths.extend(os.path.join(dirpath, f) for f in files)
            labels.extend([label] * len(files))
    return paths, labels, classes


def load_image(path, size):
    """keras load_img(target_size=(size, size), interpolation='nearest') + img_to_array + caffe."""
    img = Image.open(path)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.NEAREST)
    x = np.asarray(img, dtype=np.float64)[..., ::-1]  # RGB -> BGR
    return x - np.array(CAFFE_MEANS_BGR)


def load_split(root, size, classes=None):
    paths, labels, classes = list_split(root, classes)
    x = np.stack([load_image(p, size) for p in paths])
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels), classes


# ---- initial weights (float32 files) ----

def list_attr(values):
    # Keras writes name lists as fixed-length byte strings, an empty list as an empty float array.
    return np.array([v.encode() for v in values]) if values else np.zeros((0,), dtype=np.float64)


def write_weights(path, rng):
    """A Keras-1 VGG16 notop file: root layer_names, group/<name>_W_1:0 (3, 3, in, out), _b_1:0."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = list_attr(NOTOP_LAYERS)
        channels = 3
        for name in NOTOP_LAYERS:
            g = f.create_group(name)
            width = dict(CONVS).get(name)
            if width is None:
                g.attrs["weight_names"] = list_attr([])
                continue
            limit = math.sqrt(6.0 / (9 * channels))  # He-uniform
            if name == "block1_conv1":
                limit /= 100.0
            kernel = rng.uniform(-limit, limit, size=(3, 3, channels, width)).astype(np.float32)
            bias = rng.uniform(-0.05, 0.05, size=(width,)).astype(np.float32)
            g.attrs["weight_names"] = list_attr([name + "_W_1:0", name + "_b_1:0"])
            g.create_dataset(name + "_W_1:0", data=kernel)
            g.create_dataset(name + "_b_1:0", data=bias)
            channels = width


def write_init(path, rng, flat, hidden, classes):
    """A Keras-2 full-model file with the head's layers only (model_weights/<layer>/<layer>/...)."""
    def glorot(fan_in, fan_out):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)

    head = {
        "FC_2": [("kernel", glorot(flat, hidden)),
                 ("bias", rng.uniform(-0.05, 0.05, hidden).astype(np.float32))],
        "batch_normalization_1": [("gamma", rng.uniform(0.8, 1.2, hidden).astype(np.float32)),
                                  ("beta", rng.uniform(-0.1, 0.1, hidden).astype(np.float32)),
                                  ("moving_mean", rng.uniform(0.2, 0.6, hidden).astype(np.float32)),
                                  ("moving_variance", rng.uniform(0.5, 1.5, hidden).astype(np.float32))],
        "softmax": [("kernel", glorot(hidden, classes)),
                    ("bias", rng.uniform(-0.05, 0.05, classes).astype(np.float32))],
    }
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = list_attr(HEAD)
        for layer in HEAD:
            g = mw.create_group(layer)
            names = [f"{layer}/{w}:0" for w, _ in head[layer]]
            g.attrs["weight_names"] = list_attr(names)
            for name, (_, value) in zip(names, head[layer]):
                g.create_dataset(name, data=value)


def read_weights(path):
    """{conv name: (kernel (3, 3, in, out), bias)} in float64, from the names in the file."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, _ in CONVS:
            g = f[name]
            kernel, bias = [g[n.decode() if isinstance(n, bytes) else n][()] for n in g.attrs["weight_names"]]
            out[name] = (torch.from_numpy(kernel.astype(np.float64)), torch.from_numpy(bias.astype(np.float64)))
    return out


def read_init(path):
    """{layer: [values in Keras order]} in float64."""
    out = {}
    with h5py.File(path, "r") as f:
        mw = f["model_weights"]
        for layer in HEAD:
            g = mw[layer]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
            out[layer] = [torch.from_numpy(g[n][()].astype(np.float64)) for n in names]
    return out


# ---- the model ----

class Model:
    def __init__(self, convs, head):
        # Conv kernels as torch's (out, in, 3, 3); Keras's (3, 3, in, out) correlate the same way.
        self.convs = {n: [k.permute(3, 2, 0, 1).contiguous(), b.clone()] for n, (k, b) in convs.items()}
        self.fc_w, self.fc_b = [t.clone() for t in head["FC_2"]]
        self.gamma, self.beta, self.moving_mean, self.moving_var = [t.clone() for t in head["batch_normalization_1"]]
        self.out_w, self.out_b = [t.clone() for t in head["softmax"]]

    def state(self):
        """A copy of every weight (what a checkpoint holds)."""
        return {k: ({n: [t.clone() for t in kb] for n, kb in v.items()} if k == "convs" else v.clone())
                for k, v in self.__dict__.items()}

    def load(self, state):
        for k, v in state.items():
            setattr(self, k, {n: [t.clone() for t in kb] for n, kb in v.items()} if k == "convs" else v.clone())

    def base(self, x, names):
        """The convs in `names` (in order), each block's pool after its last conv."""
        for name in names:
            k, b = self.convs[name]
            x = torch.relu(torch.nn.functional.conv2d(x, k, b, padding=1))
            block = int(name[5])
            if name == f"block{block}_conv{BLOCKS[block - 1][1]}":
                x = torch.nn.functional.max_pool2d(x, 2, 2)
        return x

    def head(self, features, train):
        x = features.permute(0, 2, 3, 1).reshape(features.shape[0], -1)  # Keras Flatten of NHWC
        h = torch.relu(x @ self.fc_w + self.fc_b)
        if train:
            mean = h.mean(0)
            var = ((h - mean) ** 2).mean(0)  # biased
            with torch.no_grad():
                self.moving_mean = self.moving_mean - (self.moving_mean - mean.detach()) * (1 - 0.99)
                self.moving_var = self.moving_var - (self.moving_var - var.detach()) * (1 - 0.99)
        else:
            mean, var = self.moving_mean, self.moving_var
        h = (h - mean) / torch.sqrt(var + 1e-3) * self.gamma + self.beta
        return h @ self.out_w + self.out_b  # Dropout(0) is the identity


class Adam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-7):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).add_(g * g, alpha=1 - self.b2)
                p.sub_(alpha * m / (v.sqrt() + self.eps))


def xent(logits, labels):
    losses = -torch.log_softmax(logits, 1).gather(1, labels[:, None])[:, 0]
    correct = (logits.argmax(1) == labels).sum().item()
    return losses, correct


def run(args):
    rng = np.random.default_rng(args.seed)
    train_x, train_y, classes = load_split(os.path.join(args.data, "train"), args.image_size)
    valid_x, valid_y, _ = load_split(os.path.join(args.data, "valid"), args.image_size, classes)
    flat = (args.image_size // 32) ** 2 * 512
    write_weights(args.weights, rng)
    write_init(args.init, rng, flat, args.hidden, len(classes))
    model = Model(read_weights(args.weights), read_init(args.init))

    names = [n for n, _ in CONVS]
    tuned = names[names.index(args.trainable_from):]
    frozen = names[:names.index(args.trainable_from)]
    with torch.no_grad():  # the frozen part runs once per image, as vggtl's feature cache
        train_f, valid_f = model.base(train_x, frozen), model.base(valid_x, frozen)

    history, best = [], (math.inf, None)
    stages = [(1, args.epochs, args.lr), (2, args.fine_tune_epochs, args.fine_tune_lr)]
    for stage, epochs, lr in stages:
        if stage == 2 and best[1] is not None:
            model.load(best[1])
        trained = [model.fc_w, model.fc_b, model.gamma, model.beta, model.out_w, model.out_b]
        if stage == 2:
            trained = [t for n in tuned for t in model.convs[n]] + trained
        optimizer = Adam(trained, lr)
        for _ in range(epochs):
            loss_sum, correct, count = 0.0, 0, 0
            for begin in range(0, len(train_y), args.batch_size):
                for t in trained:
                    t.requires_grad_(True)
                x = train_f[begin:begin + args.batch_size]
                y = train_y[begin:begin + args.batch_size]
                losses, c = xent(model.head(model.base(x, tuned), True), y)
                grads = torch.autograd.grad(losses.mean(), trained)
                loss_sum += losses.sum().item()
                correct += c
                count += len(y)
                for t in trained:
                    t.requires_grad_(False)
                optimizer.step(grads)
            with torch.no_grad():
                val_losses, val_correct = xent(model.head(model.base(valid_f, tuned), False), valid_y)
            row = (len(history) + 1, stage, loss_sum / count, correct / count,
                   val_losses.mean().item(), val_correct / len(valid_y))
            history.append(row)
            if stage == 1 and row[4] < best[0]:
                best = (row[4], model.state())
    with open(args.history, "w") as f:
        f.write("epoch,stage,loss,accuracy,val_loss,val_accuracy\n")
        for r in history:
            f.write(f"{r[0]},{r[1]}," + ",".join(f"{v:.17g}" for v in r[2:]) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--init", required=True)
    p.add_argument("--history", required=True)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--fine-tune-epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fine-tune-lr", type=float, default=1e-5)
    p.add_argument("--trainable-from", default="block5_conv1", choices=[n for n, _ in CONVS])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.image_size % 32 or args.image_size <= 0:
        p.error("--image-size must be a positive multiple of 32")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    run(args)


if __name__ == "__main__":
    main()
