#!/usr/bin/env bash
# test_flow_identity.sh - flow.community_id against tshark's communityid
# field (Wireshark's Community ID post-dissector) over the capture corpus,
# and flow.uid: unique within a run with several cores, across two runs of
# one instance, carrying core.instance_id (decoded here independently of
# the C code: base62 -> 128-bit number -> instance in bits 64..79, run
# start in ms above).
#
# Flows are matched to tshark's packets by their endpoints; packets with
# several IP or TCP layers (tunnels, ICMP errors quoting TCP) are left out
# because which layer tshark hashes there is its own choice.
#
# Exit: 0 all good, 1 failures, 77 skipped (corpus, binary or a tshark
# without the communityid protocol).
set -u
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup flowid corpus
command -v tshark >/dev/null || { echo "SKIP: tshark missing"; exit 77; }
if ! tshark -G fields 2>/dev/null | awk -F'\t' '$3 == "communityid" { found = 1 } END { exit !found }'; then
    echo "SKIP: this tshark has no communityid protocol"
    exit 77
fi

cat >"$WORK/ids.lua" <<'LUA'
local mos = require "mos"
local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  mos.log{ client = flow.client, server = flow.server, community_id = flow.community_id, uid = flow.uid,
           again = flow.community_id == flow.community_id and flow.uid == flow.uid }
end)
LUA

pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

: >"$WORK/ours.jsonl"
: >"$WORK/tshark.tsv"
for cap in "$PCAPS"/*.pcap "$PCAPS"/*.pcapng; do
    [ -f "$cap" ] || continue
    rm -f "$WORK/one.jsonl"
    if ! timeout 120 "$MOS" -r "$cap" -c "log.file=$WORK/one.jsonl" "$WORK/ids.lua" >/dev/null 2>"$WORK/err"; then
        bad "$(basename "$cap"): mos-lua failed: $(head -c 300 "$WORK/err")"
        continue
    fi
    [ -f "$WORK/one.jsonl" ] && cat "$WORK/one.jsonl" >>"$WORK/ours.jsonl"
    timeout 120 tshark -n -r "$cap" --enable-protocol communityid -Y tcp -T fields -E separator=/t \
        -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e communityid \
        2>/dev/null >>"$WORK/tshark.tsv"
done

if python3 - "$WORK/ours.jsonl" "$WORK/tshark.tsv" <<'PY'; then ok; else bad "community ids differ from tshark's"; fi
import json, sys
def ep(addr, port):
    return ("[%s]:%s" % (addr, port)) if ":" in addr else ("%s:%s" % (addr, port))
want = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if len(f) != 7 or any("," in x for x in f):
        continue
    src, dst = f[0] or f[1], f[3] or f[4]
    if not src or not dst or not f[6]:
        continue
    key = tuple(sorted([ep(src, f[2]), ep(dst, f[5])]))
    want.setdefault(key, set()).add(f[6])
n = miss = 0
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "client" not in r:
        continue
    key = tuple(sorted([r["client"], r["server"]]))
    if key not in want:
        miss += 1
        continue
    n += 1
    if want[key] != {r["community_id"]}:
        bad.append((key, r["community_id"], sorted(want[key])))
print("community id: %d flows compared with tshark, %d without a single-layer tshark packet, %d differ"
      % (n, miss, len(bad)))
for b in bad[:10]:
    print("  ", b)
sys.exit(0 if n >= 100 and not bad else 1)
PY

# uids: 2 cores, instance 77, two runs: all distinct, instance and run inside.
cap=$PCAPS/pcapplusplus-4KHttpRequests.pcap
for run in 1 2; do
    timeout 120 "$MOS" -n 2 -r "$cap" -c core.instance_id=77 -c "log.file=$WORK/uid$run.jsonl" \
        "$WORK/ids.lua" >/dev/null 2>"$WORK/err" || bad "uid run $run failed: $(head -c 300 "$WORK/err")"
    sleep 0.01 # runs start in different milliseconds
done
if python3 - "$WORK/uid1.jsonl" "$WORK/uid2.jsonl" <<'PY'; then ok; else bad "uids"; fi
import json, sys, time
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
runs = []
for path in sys.argv[1:]:
    recs = [json.loads(l) for l in open(path) if '"uid"' in l]
    assert len(set(r["core"] for r in recs)) == 2, "flows not on 2 cores"
    assert all(r["again"] for r in recs), "flow.uid / flow.community_id not stable within an event"
    runs.append([r["uid"] for r in recs])
for uids in runs:
    assert len(uids) > 100, len(uids)
    assert len(set(uids)) == len(uids), "duplicate uid within a run"
    for u in uids:
        assert len(u) == 23 and u[0] == "C", u
        v = 0
        for ch in u[1:]:
            v = v * 62 + B62.index(ch)
        assert (v >> 64) & 0xFFFF == 77, (u, (v >> 64) & 0xFFFF)
        assert abs((v >> 80) / 1000 - time.time()) < 3600, (u, v >> 80)
assert not set(runs[0]) & set(runs[1]), "a uid repeats across runs"
print("uid: %d + %d flows, all distinct, instance 77" % (len(runs[0]), len(runs[1])))
PY

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
