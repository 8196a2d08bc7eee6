#!/usr/bin/env bash
# The long fault campaign behind docs/reliability.md ("Faults"): the FaultsApp tests of
# tests/apps/test_faults_app.cpp at campaign size (VGGTL_FAULT_CAMPAIGN=1): the first call of
# every class (open, write, fsync, rename) on every file a run writes failing, with ENOSPC, EIO
# and EROFS in turn, each followed by the resume; 12 kill chains per run kind (a SIGKILL at a
# checkpoint write call every other chain, then up to two at random instants, seeded), over
# two-stage fine-tuning runs with a spilled feature cache and with augmentation; the extract
# faults, two processes on one --out, damaged resume state and too small resources as in CI.
# Failures are injected by tests/fault/fault_shim.c (LD_PRELOAD).
# Usage: scripts/fault_campaign.sh [BUILD_DIR] [SEED]   (default build-cpu, seed 20261207)
# Prints each test's figures and the time; exit status 1 when a test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cpu}
seed=${2:-20261207}
if [[ ! -x "$build/tests/test_apps" || ! -f "$build/lib/libvggtl_fault_shim.so" ]]; then
  echo "fault_campaign.sh: build $build first: cmake --build $build --target test_apps" >&2
  exit 1
fi
echo "== fault campaign: $build, seed $seed, $(date -u +%FT%TZ), $(nproc) CPUs"
start=$(date +%s)
logs=$(mktemp -d)
tests=(WriteErrorsInEveryFileOfARunFailCleanlyAndTheRunResumesExactly KillsAtWriteCallsAndRandomInstantsThenResumeExactly
       WriteErrorsInFeaturesShardsAndTheMergedFileFailCleanly OneWriterPerRunFolder DamagedResumeStateIsRefused
       TooSmallResourcesGiveOneClearError)
# One process per test, all at once: each is a chain of short tool runs, mostly waiting.
pids=()
for t in "${tests[@]}"; do
  VGGTL_FAULT_CAMPAIGN=1 VGGTL_FAULT_SEED=$seed "$build/tests/test_apps" --gtest_filter="FaultsApp.$t" \
    >"$logs/$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!tests[@]}"; do
  if wait "${pids[$i]}"; then result=ok; else result=FAILED; status=1; fi
  echo "FaultsApp.${tests[$i]}: $result"
  grep -E '^(write faults|kills|config|kill seed)|Failure|Expected|Which is|Value of' "$logs/${tests[$i]}.log" |
    cut -c1-300 || true
done
echo "== $(( $(date +%s) - start )) s, exit status $status (logs: $logs)"
exit $status
