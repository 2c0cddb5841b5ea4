#!/usr/bin/env bash
# test_dispatch_counts.sh - handler calls and event counters agree.
#
# Runs tests/e2e/dispatch_count.lua (one counting handler on every event at
# every hook it accepts) over every capture the tests use: the corpus
# (INDEX.tsv), the crafted captures of craft/cases.py and
# examples/sample.pcap, each with the default config and with a tight one
# (1 KB stream buffers, 2 KB out-of-order window, 16 flows: forced gaps,
# ERROR events, evictions). For each run, every event's handler calls at
# each hook must equal its ev_* counter in --stats, except
# TCP_STATE_CHANGE, whose SND and RCV changes are distinct events
# (calls at SND + calls at RCV = ev_tcp_state_change); explicit UDE raises
# equal ev_ude. Inputs mos-lua refuses (the crafted malformed files: exit 1,
# "not a readable pcap" / "input error") are compared for what was read
# before the error, if the script got to run.
# Exit 77 when mos-lua is not built or the corpus is absent.
set -u
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup dispatch corpus
HERE=$SRC/tests/e2e
if ! python3 "$HERE/craft/cases.py" "$WORK/crafted" >/dev/null; then
    echo "FAIL: capture generation"; exit 1
fi
caps=("$SRC/examples/sample.pcap")
while IFS= read -r name; do caps+=("$PCAPS/$name"); done \
    < <(awk -F'\t' 'NR > 1 && $1 != "" { print $1 }' "$PCAPS/INDEX.tsv")
for f in "$WORK"/crafted/*; do caps+=("$f"); done
TIGHT=(-c reassembly.rcvbuf=1024 -c reassembly.ooo_window=2K -c core.max_concurrency=16)

i=0
for cap in "${caps[@]}"; do
    for cfg in default tight; do
        i=$((i + 1))
        r=$WORK/runs/$i
        mkdir -p "$r"
        echo "$(basename "$cap") $cfg" >"$r/name"
        extra=()
        [ $cfg = tight ] && extra=("${TIGHT[@]}")
        timeout -k 5 300 "$MOS" -q --stats "$r/stats.json" "${extra[@]}" -r "$cap" -s out="$r/calls.json" \
            "$HERE/dispatch_count.lua" >/dev/null 2>"$r/stderr" </dev/null
        echo $? >"$r/rc"
    done
done
python3 "$HERE/check_dispatch_counts.py" "$WORK/runs"
