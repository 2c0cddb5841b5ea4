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

# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup corpus corpus
RUNS=$WORK

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
