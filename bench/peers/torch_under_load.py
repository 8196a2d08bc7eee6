#!/usr/bin/env python3
"""PyTorch peer of bench/bench_under_load.cpp: the VGG16 conv base (torchvision `vgg16().features`,
random weights, channels_last, inference_mode, fp32) at 224x224 on the CPU, and 100 small
convolutions (14x14 64->64 + ReLU), quiet and with busy
competitor processes (pure spinning loops, one per usable CPU by default, started and stopped
here, bounded by a time limit), quiet and loaded passes alternating. Prints the same lines:

  vgg16 base fp32 N<b> 224x224 quiet|loaded | cpu | <median> ms | ... | range ... | cpu time ...
  vgg16 base fp32 N<b> 224x224 under load   | cpu | slowdown <x>x

Usage: torch_under_load.py [--reps N] [--batches 1,8] [--competitors N] [--threads N] [--no-small]
(--threads: torch.set_num_threads, default OMP_NUM_THREADS or the usable CPUs, as vggtl).
"""
import argparse
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_vgg16 import vgg16_features  # noqa: E402


def usable_cpus():
    return len(os.sched_getaffinity(0))


SPIN = "import signal, sys\nsignal.alarm(int(sys.argv[1]))\nwhile True:\n    pass\n"


class Competitors:
    """n spinning processes, each a fresh interpreter started without fork (subprocess uses vfork or
    posix_spawn here): a forked child would share this process's pages copy-on-write, and every page
    the timed pass writes would fault and be copied. Killed on exit, and they end after `seconds`."""

    def __init__(self, n, seconds):
        self.n, self.seconds, self.procs = n, seconds, []

    def __enter__(self):
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", SPIN, str(int(self.seconds))]))
        time.sleep(0.2)  # let them start and reach their cores
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def median(v):
    return sorted(v)[len(v) // 2]


def report(name, items, samples, competitors, note):
    wall = [s[0] for s in samples]
    cpu = [s[1] for s in samples]
    ms = median(wall)
    print("%-48s | %-7s | %9.1f ms | %.1f /s | range %.1f-%.1f ms | cpu time %.1f ms | %d competitors | %s"
          % (name, "cpu", ms, items / (ms * 1e-3), min(wall), max(wall), median(cpu), competitors, note), flush=True)
    return ms


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    with torch.inference_mode():
        fn()
    return ((time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3)


def run(model, n, reps, competitors, note):
    x = torch.randn(n, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    quiet_and_loaded("vgg16 base fp32 N%d 224x224" % n, n, lambda: timed(lambda: model(x)), reps, competitors, note)


def run_small(reps, competitors, note):
    """100 calls of a 14x14 64->64 convolution + ReLU, as bench_under_load's small case."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 14, 14).contiguous(memory_format=torch.channels_last)

    def calls():
        for _ in range(100):
            torch.relu(conv(x))

    quiet_and_loaded("conv 14x14 64->64 N1 x100", 100, lambda: timed(calls), reps, competitors, note)


def quiet_and_loaded(name, items, one_pass, reps, competitors, note):
    warm = one_pass()
    limit = max(30.0, 40.0 * warm[0] * 1e-3)
    quiet, loaded = [], []
    for r in range(reps):
        for k in range(2):
            if (k == 0) == (r % 2 == 1):
                with Competitors(competitors, limit):
                    loaded.append(one_pass())
            else:
                quiet.append(one_pass())
    q = report(name + " quiet", items, quiet, 0, note)
    l = report(name + " loaded", items, loaded, competitors, note)
    print("%-48s | %-7s | slowdown %.2fx" % (name + " under load", "cpu", l / q), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--competitors", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-small", action="store_true", help="skip the 100 small convolutions")
    a = ap.parse_args()
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0] or 0) or usable_cpus()
    torch.set_num_threads(threads)
    competitors = a.competitors or usable_cpus()
    torch.manual_seed(0)
    features, origin = vgg16_features()
    model = features.eval().to(memory_format=torch.channels_last)
    note = "torch %s, %s, channels_last, %d threads" % (torch.__version__, origin, torch.get_num_threads())
    print("# PyTorch: %s; %d busy competitor processes in the loaded passes" % (note, competitors), flush=True)
    if not a.no_small:
        run_small(a.reps, competitors, note)
    for n in [int(b) for b in a.batches.split(",")]:
        run(model, n, a.reps, competitors, note)


if __name__ == "__main__":
    main()
