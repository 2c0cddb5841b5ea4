#!/usr/bin/env bash
# test_multicore_corpus.sh - the offline distributor changes nothing a
# per-flow script can see: for every capture of the corpus, flowdump.lua's
# output directory (flows.jsonl and every stream file, byte for byte) is
# identical with -n 1 and -n 2 (and -n 3 on a few), and the --stats totals
# of per-packet and per-flow counters are equal (per-core peaks and event
# tree counts legitimately differ, so they are not compared).
#
# Exit: 0 all good, 1 failures, 77 skipped (corpus or binary not there).
set -u

# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup multicore corpus
TMP=$WORK

pass=0 fail=0
# Counters that are sums over packets or flows, so core-count independent.
SUMS="pkts_in bytes_in pkts_tcp pkts_udp flows_created flows_ended flows_reset \
reasm_bytes_delivered reasm_rexmit reasm_rexmit_inconsistent reasm_gaps ev_conn_start ev_conn_end"

run() { # run N CAPTURE -> $TMP/nN
    rm -rf "$TMP/n$1"
    timeout 120 "$MOS" -q -n "$1" -r "$2" --stats "$TMP/s$1.json" -s "out=$TMP/n$1" "$SCRIPT" \
        >/dev/null 2>"$TMP/err$1"
}

check() { # check N CAPTURE
    local cap=$2 name
    name=$(basename "$cap")
    run 1 "$cap"; local rc1=$?
    run "$1" "$cap"; local rcn=$?
    local why=""
    if [ "$rc1" != "$rcn" ]; then
        why="exit $rc1 with -n 1, $rcn with -n $1: $(head -c 300 "$TMP/err$1")"
    elif [ "$rc1" = 0 ] && ! diff -r "$TMP/n1" "$TMP/n$1" >"$TMP/diff" 2>&1; then
        why="output differs: $(head -c 400 "$TMP/diff")"
    elif [ "$rc1" = 0 ] && [ ! -f "$TMP/n1/flows.jsonl" ]; then
        why="no flows.jsonl"
    elif [ "$rc1" = 0 ] && ! python3 - "$TMP/s1.json" "$TMP/s$1.json" $SUMS <<'EOF'; then
import json, sys
a = json.load(open(sys.argv[1]))["counters"]
b = json.load(open(sys.argv[2]))["counters"]
bad = [(k, a[k], b[k]) for k in sys.argv[3:] if a.get(k) != b.get(k)]
if bad:
    print("counters differ:", bad)
    sys.exit(1)
EOF
        why="--stats totals differ"
    fi
    if [ -z "$why" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $name -n $1: $why"
    fi
}

n=0
for cap in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
    [ -f "$cap" ] || continue
    check 2 "$cap"
    n=$((n + 1))
    # a third worker on every 8th capture: more than two rings, uneven spread
    [ $((n % 8)) = 0 ] && check 3 "$cap"
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
