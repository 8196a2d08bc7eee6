#!/usr/bin/env python3
"""Speed ratios of our bench lines against a peer's lines of the same name and device.

Both files hold lines in the bench format ("name | device | 12.345 ms | ..."); a line name that
appears several times (repeated runs) counts by its fastest time, the least disturbed run on a
shared machine. Prints, for every (name, device) in both files: our ms, the peer's ms and the
speed-up, ours over the peer (above 1: we are faster).
Usage: ratios.py OURS.txt PEER.txt
"""
import sys


def fastest(path):
    best = {}
    with open(path) as f:
        for line in f:
            parts = [p.strip() for p in line.split("|")]
            if len(parts) < 3 or not parts[2].endswith(" ms"):
                continue
            try:
                ms = float(parts[2][:-3])
            except ValueError:
                continue
            key = (parts[0], parts[1])
            best[key] = min(ms, best.get(key, ms))
    return best


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    ours, peer = fastest(sys.argv[1]), fastest(sys.argv[2])
    common = [k for k in ours if k in peer]
    if not common:
        sys.exit("no line name appears in both files")
    for name, device in common:
        o, p = ours[(name, device)], peer[(name, device)]
        print("%-40s | %-7s | ours %10.3f ms | peer %10.3f ms | %.2fx" % (name, device, o, p, p / o))


if __name__ == "__main__":
    main()
