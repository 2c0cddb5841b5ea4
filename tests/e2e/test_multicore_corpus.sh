#!/usr/bin/env bash
# test_multicore_corpus.sh - several offline workers change nothing a
# per-flow script can see: for every capture of the corpus, flowdump.lua's
# output directory (flows.jsonl and every stream file, byte for byte) is
# identical with -n 1 and -n 2 (and -n 3 on a few), and the --stats totals
# of per-packet and per-flow counters are equal (per-core peaks and event
# tree counts legitimately differ, so they are not compared). A regular
# file is read by every worker, each keeping its own flows; a few captures
# are also fed through stdin and a FIFO, which the distributor thread reads.
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

# Inputs that cannot be read twice go through the distributor thread; a
# regular file is read by every worker (io_setup.c). MODE picks the input:
#   file: -r CAPTURE; stdin: -r - fed by a pipe; fifo: -r a named FIFO.
MODE=file
run_file() { run "$@"; }
run_stdin() {
    rm -rf "$TMP/n$1"
    cat "$2" | timeout 120 "$MOS" -v -n "$1" -r - --stats "$TMP/s$1.json" -s "out=$TMP/n$1" \
        "$SCRIPT" >/dev/null 2>"$TMP/err$1"
}
run_fifo() {
    rm -rf "$TMP/n$1" "$TMP/fifo"
    mkfifo "$TMP/fifo" || return 1
    cat "$2" >"$TMP/fifo" &
    timeout 120 "$MOS" -v -n "$1" -r "$TMP/fifo" --stats "$TMP/s$1.json" -s "out=$TMP/n$1" \
        "$SCRIPT" >/dev/null 2>"$TMP/err$1"
    local rc=$?
    wait
    return $rc
}

check() { # check N CAPTURE
    local cap=$2 name
    name=$(basename "$cap")
    run 1 "$cap"; local rc1=$?
    "run_$MODE" "$1" "$cap"; local rcn=$?
    local why=""
    if [ "$MODE" != file ] && ! grep -q "distributor thread" "$TMP/err$1"; then
        why="$MODE input did not go through the distributor: $(head -c 300 "$TMP/err$1")"
    elif [ "$rc1" != "$rcn" ]; then
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
        echo "FAIL: $name -n $1 ($MODE): $why"
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

# stdin and FIFO inputs (distributor) on a few captures: TCP with many
# flows, fragments, IPv6, Linux SLL. (A pcapng whose interfaces differ
# cannot be read from a pipe at all: io_pcap.c.)
for MODE in stdin fifo; do
    for name in pcapplusplus-4KHttpRequests.pcap pcapplusplus-frag_http_req.pcap \
        pcapplusplus-four_ipv6_http_streams.pcap pcapplusplus-sll.pcap \
        zeek-tcp-retransmit-timeout.pcapng; do
        [ -f "$PCAPS/$name" ] && check 2 "$PCAPS/$name"
    done
done

# A regular file, pcap or pcapng, is read by every worker (io_share.c),
# not copied through the distributor.
verbose_path() { # verbose_path CAPTURE EXPECTED-TEXT
    [ -f "$1" ] || return 0
    "$MOS" -v -n 2 -r "$1" -s "out=$TMP/nv" "$SCRIPT" >/dev/null 2>"$TMP/errv"
    if grep -q "$2" "$TMP/errv"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: -n 2 -r $(basename "$1"): expected '$2': $(head -c 300 "$TMP/errv")"
    fi
}
verbose_path "$PCAPS/pcapplusplus-4KHttpRequests.pcap" "each read the capture"
verbose_path "$PCAPS/zeek-tcp-retransmit-timeout.pcapng" "each read the capture"

# Corpus captures fit in one 4 MiB read of io_pcap.c's record walker: a
# generated one of ~25 MB (2,000 connections, ~3 KB each way, interleaved)
# crosses read boundaries with records cut in two, and a copy cut inside its
# last record ends with the truncation warning (said once, not once per
# worker); both must give -n 1's output with -n 2 and 3.
if python3 - "$TMP/big.pcap" "$MOS_SOURCE_DIR/tests/e2e/craft" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
import pcapgen as g
w = g.PcapWriter(sys.argv[1])
conns = [g.Conn(w, cli=("10.1.%d.%d" % (i // 250, i % 250 + 1), 30000 + i % 20000),
                srv=("10.2.0.%d" % (i % 7 + 1), 80), isn=(i * 7919, i * 104729)) for i in range(2000)]
body = bytes(range(256)) * 6
for step in range(8):
    for c in conns:
        if step == 0:
            c.handshake()
        elif step < 7:
            c.seg(0, g.ACK | g.PSH, body[:500 + step])
            c.seg(1, g.ACK | g.PSH, body[:1400])
        else:
            c.close()
w.close()
EOF
then
    MODE=file
    size=$(stat -c %s "$TMP/big.pcap")
    head -c $((size - 701)) "$TMP/big.pcap" >"$TMP/big_cut.pcap"
    for cap in "$TMP/big.pcap" "$TMP/big_cut.pcap"; do
        check 2 "$cap"
        check 3 "$cap"
    done
    # every worker meets the cut; the user reads about it once
    if [ "$(grep -c "truncated" "$TMP/err3")" != 1 ]; then
        fail=$((fail + 1))
        echo "FAIL: the cut capture did not warn exactly once with -n 3: $(head -c 400 "$TMP/err3")"
    fi
else
    fail=$((fail + 1))
    echo "FAIL: could not generate the big capture"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
