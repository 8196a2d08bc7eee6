#!/usr/bin/env python3
"""Counts passes, failures and skips from GoogleTest's JSON reports (--gtest_output=json:...).

Prints one line per failing test ("test SUITE.NAME: first line of the message"), one per binary
that ended without a complete report (crashed, timed out, or failed outside any test), then the
totals as the last line: "tests: N passed, N failed, N skipped". With --gpu-machine a skipped
test is a failure: on a machine that has a GPU, a GPU test that skips did not run.
Usage: gtest_counts.py [--gpu-machine] JSON_DIR [RC_FILE]
RC_FILE holds lines "BINARY rc N" (the exit status of each binary run); a binary listed there
with no report, or with a non-zero status and no failing test, is reported as a failure.
"""
import json
import os
import sys


def first_line(text):
    """The message's first line that is not gtest's "FILE:LINE" header."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in lines:
        head = line.split(":")
        if not (len(head) >= 2 and head[1].strip().isdigit()):
            return line[:160]
    return lines[0][:160] if lines else "(no message)"


def main():
    args = sys.argv[1:]
    gpu_machine = "--gpu-machine" in args
    args = [a for a in args if a != "--gpu-machine"]
    if not args or len(args) > 2:
        sys.exit(__doc__.strip().splitlines()[-4])
    json_dir = args[0]
    rcs = {}
    if len(args) == 2 and os.path.exists(args[1]):
        with open(args[1]) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] == "rc":
                    rcs[parts[0]] = int(parts[2])

    passed = failed = skipped = 0
    lines = []
    reported = set()
    for name in sorted(os.listdir(json_dir)) if os.path.isdir(json_dir) else []:
        if not name.endswith(".json"):
            continue
        binary = name[:-len(".json")]
        try:
            with open(os.path.join(json_dir, name)) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            lines.append("test binary %s: unreadable report (%s)" % (binary, e))
            failed += 1
            continue
        reported.add(binary)
        binary_failed = 0
        for suite in report.get("testsuites", []):
            for case in suite.get("testsuite", []):
                full = "%s.%s" % (suite.get("name", "?"), case.get("name", "?"))
                if case.get("status") == "NOTRUN":
                    continue
                if case.get("failures"):
                    failed += 1
                    binary_failed += 1
                    lines.append("test %s: %s" % (full, first_line(case["failures"][0].get("failure", ""))))
                elif case.get("result") == "SKIPPED":
                    if gpu_machine:
                        failed += 1
                        binary_failed += 1
                        lines.append("test %s: skipped on a GPU machine" % full)
                    else:
                        skipped += 1
                else:
                    passed += 1
        if rcs.get(binary, 0) != 0 and binary_failed == 0:
            failed += 1
            lines.append("test binary %s: exit status %d with no failing test (a crash at exit?)" %
                         (binary, rcs[binary]))
    for binary, rc in sorted(rcs.items()):
        if binary not in reported:
            failed += 1
            why = "timed out" if rc in (124, 137) else "crashed or never finished"
            lines.append("test binary %s: no report, exit status %d (%s)" % (binary, rc, why))
    for line in lines:
        print(line)
    print("tests: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
