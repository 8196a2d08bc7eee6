#!/usr/bin/env python3
"""vggtl and PyTorch under load, side by side: runs build/bench/bench_under_load and
bench/peers/torch_under_load.py in turn, `--rounds` times (so that other jobs on a shared machine
hit both), and prints one table row per case and side: median quiet ms, median loaded ms and the
slowdown of each round (loaded / quiet within that run). With --spinning, vggtl also runs with
GOMP_SPINCOUNT=300000, libgomp's own default, i.e. as it ran before its apps chose
OMP_WAIT_POLICY=PASSIVE. The load average before each run is printed as it goes.
Usage: under_load.py [--bin build/bench/bench_under_load] [--python python3] [--rounds 2]
                     [--reps 3] [--batches 1,8] [--spinning]
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"^(.*?) (quiet|loaded)\s*\| cpu\s*\|\s*([\d.]+) ms")
SLOW = re.compile(r"^(.*?) under load\s*\| cpu\s*\| slowdown ([\d.]+)x")


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bench/bench_under_load")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--spinning", action="store_true", help="also vggtl with libgomp's spinning default")
    a = ap.parse_args()
    common = ["--reps", str(a.reps), "--batches", a.batches]
    sides = [("vggtl", [a.bin] + common, {})]
    if a.spinning:
        sides.append(("vggtl, GOMP_SPINCOUNT=300000", [a.bin] + common, {"GOMP_SPINCOUNT": "300000"}))
    sides.append(("PyTorch", [a.python, os.path.join(HERE, "torch_under_load.py")] + common, {}))
    results = {}  # (case, side) -> {"quiet": [], "loaded": [], "slowdown": []}
    for r in range(a.rounds):
        for side, cmd, env in sides:
            print("# round %d, %s, load average %s" % (r + 1, side, open("/proc/loadavg").read().split()[0]),
                  flush=True)
            out = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                print("  " + line, flush=True)
                m, s = LINE.match(line), SLOW.match(line)
                if m:
                    results.setdefault((m.group(1).strip(), side), {}).setdefault(m.group(2), []).append(
                        float(m.group(3)))
                elif s:
                    results.setdefault((s.group(1).strip(), side), {}).setdefault("slowdown", []).append(
                        float(s.group(2)))
    print("\n| case | side | quiet ms | loaded ms | slowdown per round |")
    print("|---|---|---|---|---|")
    for (case, side), v in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        print("| %s | %s | %.1f | %.1f | %s |" % (case, side, median(v["quiet"]), median(v["loaded"]),
                                                  ", ".join("%.2fx" % x for x in v["slowdown"])))


if __name__ == "__main__":
    main()
