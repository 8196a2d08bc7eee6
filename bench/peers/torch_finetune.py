#!/usr/bin/env python3
"""PyTorch peer of bench/bench_finetune.cpp: one fine-tuning step at block5 at batch 30 --
three 512->512 3x3 convolutions with ReLU (trainable) and a 2x2 max-pool on 14x14x512 inputs,
then Flatten -> Linear 64 ReLU -> BatchNorm1d -> Dropout 0.5 -> Linear 2, cross-entropy and
Adam -- timed the same way (1 warm-up, median of N) and printed in the same line format:

  finetune block5 step N30 14x14x512 | <device> | <ms> ms | <TFLOP/s> TFLOP/s | <note>

CPU: fp32 on all cores, channels_last and NCHW, the faster reported. GPU (when present): fp32
with TF32 off, channels_last, cudnn.benchmark=True.
Usage: torch_finetune.py [--reps N] [--cpu-only|--gpu-only]
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn as nn

NAME = "finetune block5 step N30 14x14x512"
N = 30


def make_model():
    layers = []
    for _ in range(3):
        layers += [nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True)]
    layers += [nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(7 * 7 * 512, 64), nn.ReLU(inplace=True),
               nn.BatchNorm1d(64), nn.Dropout(0.5), nn.Linear(64, 2)]
    return nn.Sequential(*layers)


def time_step(device, memory_format, reps):
    torch.manual_seed(1)
    model = make_model().to(device).to(memory_format=memory_format).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = (torch.rand(N, 512, 14, 14, device=device) * 3).contiguous(memory_format=memory_format)
    labels = torch.arange(N, device=device) % 2

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def report(device_name, ms, note):
    flops = 8 * 2.0 * 9 * N * 14 * 14 * 512 * 512
    print("%-48s | %-7s | %9.3f ms | %8.2f TFLOP/s | %s" % (NAME, device_name, ms, flops / (ms * 1e-3) / 1e12, note),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--gpu-only", action="store_true")
    args = ap.parse_args()
    if not args.gpu_only:
        torch.set_num_threads(os.cpu_count() or 1)
        best = None
        for fmt, label in ((torch.channels_last, "channels_last"), (torch.contiguous_format, "nchw")):
            ms = time_step(torch.device("cpu"), fmt, args.reps)
            if best is None or ms < best[0]:
                best = (ms, label)
        report("cpu", best[0], "torch %s, %d threads, %s" % (torch.__version__, torch.get_num_threads(), best[1]))
    if not args.cpu_only and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        ms = time_step(torch.device("cuda"), torch.channels_last, args.reps)
        report("cuda:0", ms, "torch %s, fp32, channels_last" % torch.__version__)


if __name__ == "__main__":
    main()
