#!/usr/bin/env bash
# test_live_mirror.sh - passive live capture: the middlebox namespace
# bridges client and server, and tc mirrors both directions to a third veth
# (mir0 -> mir1). On mir1 run, at the same time, mos-lua (-i mir1, -n 1 and
# then -n 2 with a PACKET_FANOUT group) with flowdump.lua, and dumpcap. The
# live per-flow results (flows.jsonl and every stream file) must equal
# flowdump.lua's offline analysis of dumpcap's capture of the same traffic
# (timestamps aside: each packet socket stamps its own copy, ~1 us apart),
# and each download's bytes must be the s2c stream of its flow. Downloads
# are paced by curl (--limit-rate, user space) so that neither capture
# socket overflows: a kernel drop would be a legitimate difference.
# Skips (77) without root or tools. Every command is bounded by timeout(1).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/netns/lib.sh"
mos_netns_require curl python3 cmp tc dumpcap

SRC=${MOS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }

mos_netns_setup
mos_netns_bridge_up
T=$MOS_NETNS_TMP
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# the mirror: whatever enters mb0 or mb1 is copied out of mir0 into mir1
ip -n "$MOS_NS_MB" link add mir0 type veth peer name mir1 || { echo "FAIL: veth"; exit 1; }
ip -n "$MOS_NS_MB" link set mir0 up
ip -n "$MOS_NS_MB" link set mir1 up
for d in "$MOS_IF_A" "$MOS_IF_B"; do
    ip netns exec "$MOS_NS_MB" tc qdisc add dev "$d" clsact || { echo "SKIP: tc clsact unavailable"; exit 77; }
    ip netns exec "$MOS_NS_MB" tc filter add dev "$d" ingress protocol all u32 match u32 0 0 action mirred egress mirror dev mir0 \
        || { echo "SKIP: tc mirred unavailable"; exit 77; }
done

www=$T/www
mkdir -p "$www"
for i in 0 1 2; do head -c $(((i + 1) * 300000)) /dev/urandom >"$www/f$i.bin"; done
mos_http_server "$www" 8080 120 || { echo "FAIL: http server did not start"; exit 1; }

for n in 1 2; do
    rm -rf "$T/live" "$T/off" "$T/cap.pcap"
    mos_ns_bg "$MOS_NS_MB" 60 dumpcap -q -i mir1 -w "$T/cap.pcap"
    cap=$MOS_NS_LAST_PID
    mos_mb_start 60 "$MOS" -q -n "$n" -i mir1 -s "out=$T/live" "$SRC/scripts/flowdump.lua"
    sleep 1.5 # both capturing before any traffic
    for i in 0 1 2; do
        mos_ns_exec "$MOS_NS_CLI" --timeout 30 curl -sS --fail --max-time 20 --limit-rate 4M -o "$T/got$i.bin" \
            "http://$MOS_IP_SRV:8080/f$i.bin" || bad "-n $n: download $i failed"
    done
    sleep 1 # the last FIN/ACKs
    mos_mb_stop
    kill -INT "$cap" 2>/dev/null
    wait "$cap" 2>/dev/null
    [ "$MOS_MB_RC" = 0 ] && ok "-n $n: live mos-lua exits 0 on SIGINT" || bad "-n $n: live mos-lua exit $MOS_MB_RC"
    timeout 60 "$MOS" -q -r "$T/cap.pcap" -s "out=$T/off" "$SRC/scripts/flowdump.lua" \
        || bad "-n $n: offline run failed"
    nflows=$(grep -c '"server": "10.199.1.2:8080"' "$T/off/flows.jsonl" 2>/dev/null)
    [ "$nflows" -ge 3 ] && ok "-n $n: the capture holds $nflows HTTP flows" || bad "-n $n: capture holds $nflows HTTP flows"
    same_records() {
        python3 - "$T/live/flows.jsonl" "$T/off/flows.jsonl" <<'EOP'
import json, sys
def load(p):
    out = []
    for l in open(p):
        r = json.loads(l)
        r.pop("first_ts"); r.pop("last_ts")
        out.append(r)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    print("records differ:\n", a, "\n", b)
    sys.exit(1)
EOP
    }
    if same_records >"$T/diff" 2>&1 && diff -r -x flows.jsonl "$T/live" "$T/off" >>"$T/diff" 2>&1; then
        ok "-n $n: live flowdump output equals the offline analysis of the capture"
    else
        bad "-n $n: live and offline differ: $(head -c 600 "$T/diff")"
    fi
    # each download is the server->client stream of one flow
    for i in 0 1 2; do
        sum=$(sha256sum <"$T/got$i.bin" | cut -d' ' -f1)
        found=0
        for s in "$T"/live/*.s2c; do
            # the stream is headers + body: compare the tail
            if [ "$(tail -c "$(stat -c %s "$T/got$i.bin")" "$s" | sha256sum | cut -d' ' -f1)" = "$sum" ]; then found=1; fi
        done
        [ "$found" = 1 ] && ok "-n $n: download $i is the body of a live s2c stream" \
            || bad "-n $n: download $i not found in the live streams"
    done
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
