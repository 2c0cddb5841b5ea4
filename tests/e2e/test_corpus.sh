#!/usr/bin/env bash
# test_corpus.sh - golden test of mos-lua's reassembly against the public
# capture corpus ($MOS_SHARED_DIR/pcaps, tshark ground truth).
#
# Runs `mos-lua -r CAPTURE -s out=DIR scripts/flowdump.lua` on every capture
# of INDEX.tsv (or only the captures named on the command line), then lets
# compare_flowdump.py judge the runs: exit status, sanitizer reports, and the
# bytes of every stream direction where tshark and tcpflow agree. Accepted
# differences live in tests/KNOWN_DIFFERENCES.tsv; stale entries fail.
#
# Exit: 0 all good, 1 failures, 77 skipped (corpus or binary not there).
# MOS_E2E_KEEP=1 keeps the run directory for inspection; MOS_E2E_INFO=1 also
# prints differences on directions where the two reference tools disagree.
set -u

SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
SHARED=${MOS_SHARED_DIR:-$SRC/../shared}
PCAPS=$SHARED/pcaps
MOS=$BUILD/mos-lua
SCRIPT=$SRC/scripts/flowdump.lua

if [ ! -f "$PCAPS/INDEX.tsv" ]; then
    echo "SKIP: capture corpus not found at $PCAPS (set MOS_SHARED_DIR)"
    exit 77
fi
if [ ! -x "$MOS" ]; then
    echo "SKIP: $MOS does not exist yet (build mos-lua first or set MOS_BUILD_DIR)"
    exit 77
fi
if [ ! -f "$SCRIPT" ]; then
    echo "SKIP: $SCRIPT does not exist yet"
    exit 77
fi

RUNS=$(mktemp -d /tmp/mos-corpus.XXXXXX)
cleanup() {
    if [ "${MOS_E2E_KEEP:-0}" = 1 ]; then echo "runs kept in $RUNS"; else rm -rf "$RUNS"; fi
}
trap cleanup EXIT

# Sanitizer reports must reach stderr and must not be swallowed by a recover.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export PYTHONDONTWRITEBYTECODE=1 # keep the source tree clean

if [ $# -gt 0 ]; then
    names=("$@")
else
    mapfile -t names < <(awk -F'\t' 'NR > 1 && $1 != "" { print $1 }' "$PCAPS/INDEX.tsv")
fi

for name in "${names[@]}"; do
    d=$RUNS/$name
    mkdir -p "$d/out"
    # 300 s is far beyond any corpus file (< 1 MB); it only stops a hang.
    timeout -k 10 300 "$MOS" --stats "$d/stats.json" -r "$PCAPS/$name" -s out="$d/out" "$SCRIPT" \
        >"$d/stdout" 2>"$d/stderr" </dev/null
    echo $? >"$d/rc"
done

info=()
[ "${MOS_E2E_INFO:-0}" = 1 ] && info=(--info)
python3 "$SRC/tests/e2e/compare_flowdump.py" --pcaps "$PCAPS" --runs "$RUNS" \
    --known "$SRC/tests/KNOWN_DIFFERENCES.tsv" "${info[@]}" "${names[@]}"
