#!/usr/bin/env python3
"""The whole reference job timed stage by stage, and the same job in PyTorch in the same run.

Runs vggtl_train on DATA (train/, valid/, test/) and bench/peers/torch_reference_job.py on the
same data and weights, one after the other on the same machine; prints vggtl's seconds per
stage (from its metrics.json), both wall-clock totals and the speed-up (target on one H200:
vggtl <= 3 s and >= 10x faster than PyTorch).
Usage: reference_job.py DATA [--weights FILE|none] [--bin build/bin] [--python PY] [--epochs N]
       [-- extra vggtl_train options]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--weights", default="none")
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--python", default=sys.executable, help="interpreter with torch and Pillow for the peer")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))

    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        cmd = [os.path.join(args.bin, "vggtl_train"), "--data", args.data, "--weights", args.weights,
               "--out", run, "--quiet", "--epochs", str(args.epochs)] + extra
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.PIPE)
        ours = time.perf_counter() - t
        m = json.load(open(os.path.join(run, "metrics.json")))

    print("vggtl stages: " + ", ".join(f"{k} {v:.3f} s" for k, v in m["seconds"].items()))
    print(f"vggtl: device {m['device']}, precision {m['precision']}, peak GPU memory "
          f"{m['peak_gpu_memory_bytes'] / 2**20:.0f} MiB, test accuracy {m.get('test', {}).get('accuracy', 'n/a')}")

    peer = [args.python, os.path.join(here, "peers", "torch_reference_job.py"), "--data", args.data,
            "--epochs", str(args.epochs)]
    if args.weights != "none":
        peer += ["--weights", args.weights]
    t = time.perf_counter()
    out = subprocess.run(peer, check=True, stdout=subprocess.PIPE, text=True).stdout
    theirs = time.perf_counter() - t
    print("\n".join(out.strip().splitlines()[-2:]))
    print(f"reference job | vggtl {ours:.2f} s | torch {theirs:.2f} s | speed-up {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
