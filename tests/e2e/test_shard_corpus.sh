#!/usr/bin/env bash
# test_shard_corpus.sh - io.shard cuts the traffic between instances without
# losing or doubling a flow: for every capture of the corpus, the union of
# the flowdump outputs of shards 0..N-1 (N = 2 with -n 1 each; N = 3 with
# -n 2 each, shard first, then workers, on every 4th capture, or on all
# with MOS_SHARD_FULL=1) equals the single instance's
# output, flow for flow and byte for byte: every flow record (less its
# stream file names, which are numbered per run) and the bytes of both of
# its stream files. --stats: each instance reads every frame once
# (pkts_in + pkts_other_shard = the single instance's pkts_in), and the
# shards' pkts_in and flows_created add up to the single instance's. One
# capture also goes through stdin (the distributor) with -n 2.
#
# Exit: 0 all good, 1 failures, 77 skipped (corpus or binary not there).
set -u
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup shard corpus
TMP=$WORK

pass=0 fail=0

run() { # run NAME CAPTURE ARGS... -> $TMP/NAME (flowdump dir), $TMP/NAME.json
    local name=$1 cap=$2
    shift 2
    rm -rf "${TMP:?}/$name"
    timeout 120 "$MOS" -q -r "$cap" --stats "$TMP/$name.json" -s "out=$TMP/$name" "$@" "$SCRIPT" \
        >/dev/null 2>"$TMP/$name.err"
}

compare() { # compare CAPTURE N SINGLE SHARD-DIRS...
    python3 - "$@" <<'PY'
import hashlib, json, os, sys
cap, n, single, shards = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def flows(d):
    out = []
    path = os.path.join(d, "flows.jsonl")
    if not os.path.exists(path):
        return out
    for line in open(path):
        r = json.loads(line)
        for dirn in ("c2s", "s2c"):
            f = r[dirn].pop("file", None) # none for an empty direction
            data = open(os.path.join(d, f), "rb").read() if f else b""
            r[dirn]["sha256"] = hashlib.sha256(data).hexdigest()
        out.append(json.dumps(r, sort_keys=True))
    return out
want = flows(single)
got = [r for d in shards for r in flows(d)]
errs = []
if sorted(want) != sorted(got):
    a, b = set(want), set(got)
    errs.append("flows differ: %d single, %d in shards; only single: %s; only shards: %s"
                % (len(want), len(got), list(a - b)[:1], list(b - a)[:1]))
stats = lambda p: json.load(open(p))["counters"]
s1 = stats(single + ".json")
ss = [stats(d + ".json") for d in shards]
for i, s in enumerate(ss):
    if s["pkts_in"] + s["pkts_other_shard"] != s1["pkts_in"] + s1["pkts_other_shard"]:
        errs.append("shard %d: pkts_in %d + pkts_other_shard %d != %d" % (i, s["pkts_in"], s["pkts_other_shard"], s1["pkts_in"]))
for k in ("pkts_in", "flows_created", "reasm_bytes_delivered"):
    if sum(s[k] for s in ss) != s1[k]:
        errs.append("%s: shards add up to %d, single %d" % (k, sum(s[k] for s in ss), s1[k]))
if s1["pkts_other_shard"] != 0:
    errs.append("single instance counted other shards")
if errs:
    print("FAIL: %s N=%d: %s" % (os.path.basename(cap), n, "; ".join(errs)))
    sys.exit(1)
PY
}

check() { # check CAPTURE N CORES [input mode]
    local cap=$1 n=$2 cores=$3 i dirs=()
    run single "$cap" || { fail=$((fail + 1)); echo "FAIL: $(basename "$cap"): single run: $(head -c 300 "$TMP/single.err")"; return; }
    for ((i = 0; i < n; i++)); do
        if [ "${4:-}" = stdin ]; then
            rm -rf "${TMP:?}/shard$i"
            timeout 120 "$MOS" -q -r - -n "$cores" -c "io.shard=$i/$n" --stats "$TMP/shard$i.json" \
                -s "out=$TMP/shard$i" "$SCRIPT" <"$cap" >/dev/null 2>"$TMP/shard$i.err"
        else
            run "shard$i" "$cap" -n "$cores" -c "io.shard=$i/$n"
        fi || { fail=$((fail + 1)); echo "FAIL: $(basename "$cap") shard $i/$n: $(head -c 300 "$TMP/shard$i.err")"; return; }
        dirs+=("$TMP/shard$i")
    done
    if compare "$cap" "$n" "$TMP/single" "${dirs[@]}"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}

n=0
for cap in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
    [ -f "$cap" ] || continue
    check "$cap" 2 1
    # N = 3 with 2 workers each on every 4th capture (all of them with
    # MOS_SHARD_FULL=1: ~2x the time, kept out of CI's budget)
    n=$((n + 1))
    [ "${MOS_SHARD_FULL:-0}" = 1 ] || [ $((n % 4)) = 1 ] && check "$cap" 3 2
done
cap=$PCAPS/pcapplusplus-4KHttpRequests.pcap
[ -f "$cap" ] && check "$cap" 2 2 stdin

# a bad value is a usage error naming the key
"$MOS" -r "$cap" -c io.shard=2/2 "$SCRIPT" >/dev/null 2>"$TMP/bad.err"
rc=$?
if [ "$rc" = 2 ] && grep -q "io.shard" "$TMP/bad.err"; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: -c io.shard=2/2: exit $rc, $(head -c 300 "$TMP/bad.err")"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
