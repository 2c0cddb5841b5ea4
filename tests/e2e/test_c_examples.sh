#!/usr/bin/env bash
# test_c_examples.sh - the C samples on the mtcp_* API against tshark.
#
# midstat: its set of (client, server, c2s bytes, s2c bytes) must equal
# streams.tsv's (client, server, c2s_bytes, s2c_bytes), over the streams
# whose directions tcpflow also agrees on (verdict `same`, or a direction
# that is empty for tshark and that tcpflow did not write either), so the
# ground truth is what two independent tools say.
# synfw -b 'tcp dst port P': blocks exactly the streams whose client sent a
# SYN to port P (streams.tsv client_rule = syn, server port P).
#
# Env: MOS_BUILD_DIR (midstat, synfw), MOS_SHARED_DIR (pcaps/). Exit 77 when
# the corpus is absent.
set -u
BUILD=${MOS_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SHARED=${MOS_SHARED_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
PCAPS=$SHARED/pcaps
if [ ! -d "$PCAPS/expected" ]; then
    echo "no capture corpus at $PCAPS: skipped"
    exit 77
fi
for b in midstat synfw; do
    if [ ! -x "$BUILD/$b" ]; then
        echo "missing $BUILD/$b"
        exit 1
    fi
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

MIDSTAT_CAPTURES="zeek-wikipedia.pcap pcapplusplus-three_http_streams.pcap
pcapplusplus-four_ipv6_http_streams.pcap
pcapplusplus-4KHttpRequests.pcap zeek-ftp-bruteforce.pcap"
# capture:port for synfw -b 'tcp dst port PORT'
SYNFW_CAPTURES="zeek-wikipedia.pcap:80 pcapplusplus-three_http_streams.pcap:80
pcapplusplus-four_ipv6_http_streams.pcap:80 pcapplusplus-4KHttpRequests.pcap:80
zeek-ftp-bruteforce.pcap:80 zeek-ftp-bruteforce.pcap:21 zeek-http-pipelined-requests.pcap:80"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }

# midstat lines: client server cli_state svr_state c2s s2c -> "client server c2s s2c"
midstat_rows() {
    awk 'NR > 1 && $1 != "total:" && NF == 6 { print $1, $2, $5, $6 }' "$1" | sort
}

# streams.tsv + tcpflow.tsv -> "client server c2s s2c" for streams both tools agree on
truth_rows() {
    python3 - "$1" <<'EOF'
import csv, sys
d = sys.argv[1]
with open(d + "/streams.tsv") as f:
    streams = list(csv.DictReader(f, delimiter="\t"))
verdict = {}
try:
    with open(d + "/tcpflow.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            verdict.setdefault((r["stream"], r["dir"]), []).append(r["verdict"])
except FileNotFoundError:
    pass
for s in streams:
    good = True
    for dr, col in (("c2s", "c2s_bytes"), ("s2c", "s2c_bytes")):
        v = verdict.get((s["stream"], dr))
        if v is None:
            good &= s[col] == "0"      # both tools: nothing
        else:
            good &= all(x == "same" for x in v)
        good &= s[col.replace("bytes", "gap_bytes")] == "0"
    if good:
        print(s["client"], s["server"], s["c2s_bytes"], s["s2c_bytes"])
EOF
}

for cap in $MIDSTAT_CAPTURES; do
    name="midstat $cap"
    if [ ! -f "$PCAPS/$cap" ] || [ ! -f "$PCAPS/expected/$cap/streams.tsv" ]; then
        ko "$name (capture or ground truth missing)"
        continue
    fi
    if ! "$BUILD/midstat" -r "$PCAPS/$cap" >"$TMP/out" 2>"$TMP/err"; then
        ko "$name (exit status; $(head -c 300 "$TMP/err"))"
        continue
    fi
    truth_rows "$PCAPS/expected/$cap" | sort >"$TMP/want"
    if [ ! -s "$TMP/want" ]; then
        ko "$name (no stream both tools agree on)"
        continue
    fi
    midstat_rows "$TMP/out" >"$TMP/all"
    # only the connections the ground truth speaks for, as a multiset
    awk 'NR == FNR { k[$1 " " $2] = 1; next } ($1 " " $2) in k' "$TMP/want" "$TMP/all" >"$TMP/got"
    if diff -u "$TMP/want" "$TMP/got" >"$TMP/diff"; then
        ok "$name ($(wc -l <"$TMP/want") streams)"
    else
        ko "$name"
        head -20 "$TMP/diff"
    fi
done

for item in $SYNFW_CAPTURES; do
    cap=${item%:*}
    port=${item##*:}
    name="synfw $cap port $port"
    if [ ! -f "$PCAPS/expected/$cap/streams.tsv" ]; then
        ko "$name (ground truth missing)"
        continue
    fi
    if ! "$BUILD/synfw" -r "$PCAPS/$cap" -b "tcp dst port $port" >"$TMP/out" 2>"$TMP/err"; then
        ko "$name (exit status; $(head -c 300 "$TMP/err"))"
        continue
    fi
    awk -F'\t' -v p=":$port" 'NR > 1 && $4 == "syn" && substr($3, length($3) - length(p) + 1) == p { print $2, $3 }' \
        "$PCAPS/expected/$cap/streams.tsv" | sort >"$TMP/want"
    awk '$1 == "blocked" { print $2, $4 }' "$TMP/out" | sort >"$TMP/got"
    if diff -u "$TMP/want" "$TMP/got" >"$TMP/diff"; then
        ok "$name ($(wc -l <"$TMP/want") blocked)"
    else
        ko "$name"
        head -20 "$TMP/diff"
    fi
done

# A rule that does not compile is refused with exit status 2.
if "$BUILD/synfw" -r "$PCAPS/zeek-wikipedia.pcap" -b 'tcp dst port' >/dev/null 2>&1; then
    ko "synfw bad rule"
else
    [ $? -eq 2 ] && ok "synfw bad rule" || ko "synfw bad rule (exit status)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
