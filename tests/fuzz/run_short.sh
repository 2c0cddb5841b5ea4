#!/usr/bin/env bash
# run_short.sh FUZZER PREFIX SECONDS SEEDS ARTIFACTS - the CI form of a fuzz
# target (ctest fuzz.*; built with -DMOS_FUZZ=ON, which run-tests.sh turns on
# for the sanitize build when clang and libFuzzer are installed).
# 1. replays every tests/fuzz/regressions/PREFIX-* input once;
# 2. fuzzes for SECONDS from the seed corpus SEEDS (if it exists) in a
#    scratch corpus, with a fixed -seed so a run is repeatable on one build.
# Fails on any crash, leak, sanitizer report or timeout; the input that did
# it is kept in ARTIFACTS (printed), ready for the regressions folder.
set -u
fuzzer=$1 prefix=$2 secs=$3 seeds=$4 art=$5
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$fuzzer" ] || { echo "SKIP: $fuzzer not built"; exit 77; }
mkdir -p "$art"
work=$(mktemp -d /tmp/mos-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
opts=(-timeout=10 -rss_limit_mb=2000 -max_len=8192 -artifact_prefix="$art/$prefix-" -print_final_stats=1)
regs=("$here"/regressions/"$prefix"-*)
if [ -e "${regs[0]}" ]; then
    echo "replaying ${#regs[@]} regression input(s)"
    "$fuzzer" "${opts[@]}" "${regs[@]}" >"$work/replay.log" 2>&1 || {
        tail -40 "$work/replay.log"; echo "FAIL: a regression input fails again"; exit 1; }
fi
mkdir -p "$work/corpus"
dirs=("$work/corpus")
[ -d "$seeds" ] && dirs+=("$seeds")
"$fuzzer" "${opts[@]}" -seed=1 -max_total_time="$secs" "${dirs[@]}" >"$work/fuzz.log" 2>&1
rc=$?
grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ +DONE' "$work/fuzz.log" | tail -3
if [ $rc -ne 0 ]; then
    grep -A30 -E 'ERROR|runtime error|Lua error|deadly signal' "$work/fuzz.log" | head -60
    echo "FAIL: $(basename "$fuzzer") found a problem; input kept in $art (see tests/fuzz/README.md)"
    exit 1
fi
echo "ok: $(basename "$fuzzer") ${secs}s"
