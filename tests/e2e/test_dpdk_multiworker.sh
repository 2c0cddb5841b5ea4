#!/usr/bin/env bash
# test_dpdk_multiworker.sh - software distribution on a DPDK device without
# RSS: net_pcap has one queue, so with -n 2 a distributor thread reads the
# port and spreads flows over the two workers (host/io_setup.c), and the
# workers' inline transmissions go back out through it.
#
# Setup (no NIC, no hugepages): an inline pair of net_pcap vdevs; port 0
# replays a generated capture (bench/gen_workload.c: 64 TCP flows, IPv4 and
# IPv6, 2% identical retransmissions), port 1 writes what is forwarded to it
# into a pcap. net_pcap never signals the end of its file, so the run is
# polled with SIGUSR1 (--stats) until pkts_forwarded reaches the capture's
# packet count, then stopped with SIGINT (which ends every flow).
#
# Checked for -n 1 and -n 2, against the generator's own sidecar numbers
# and the input capture itself (never against a previous mos-lua run):
#   - every input packet leaves port 1, and per flow (symmetric 5-tuple) the
#     output is the input's packets, byte for byte, in the input's order;
#   - flowdump.lua sees all 64 flows with the generator's payload totals,
#     and its per-flow output (states, byte counts, stream contents) is the
#     same for 1 and 2 workers (timestamps differ: DPDK stamps on receipt);
#   - counters: nothing dropped by I/O, both workers got traffic with -n 2,
#     and flows_peak is the maximum over cores, not their sum;
#   - io.shard=0/2 and 1/2 (-n 2 each): every frame still leaves port 1 in
#     per-flow order, and the two shards' flowdump outputs together are the
#     same as -n 1's.
# Skips (77) without root, python3/cc, or a mos-lua built with libdpdk.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${MOS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (DPDK EAL)"; exit 77; }
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
for t in python3 cc ldd; do
    command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
case "$(ldd "$MOS")" in
*librte_ethdev*) ;;
*) echo "SKIP: mos-lua built without libdpdk"; exit 77 ;;
esac

T=$(mktemp -d /tmp/mos-dpdkmw.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

cc -std=gnu11 -O2 "$SRC/bench/gen_workload.c" -o "$T/gen" 2>"$T/cc.log" || { echo "FAIL: gen_workload did not build"; exit 1; }
"$T/gen" -o "$T/in.pcap" -s 5 -c 32 -f 64 -b 64k -6 0.2 -r 0.02 >/dev/null 2>&1 || { echo "FAIL: gen_workload"; exit 1; }
N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$T/in.pcap.json")
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$T/empty.pcap"

counter() { # counter STATS NAME
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"][sys.argv[2]])' "$1" "$2" 2>/dev/null
}

# run NAME N [ARGS...]: mos-lua -n N inline on the pair until every frame
# left (forwarded after the handlers, or untouched as another shard's)
run() {
    local name=$1 n=$2 d=$T/$1 i fwd="" other
    shift 2
    mkdir -p "$d"
    cat >"$d/mos.conf" <<EOF
[io]
inline_pair = dpdk:net_pcap0,dpdk:net_pcap1
dpdk_eal = --no-huge -m 1024 --no-pci --no-shconf --file-prefix=mosmw$$$name --log-level=*:error --vdev=net_pcap0,rx_pcap=$T/in.pcap,tx_pcap=/dev/null --vdev=net_pcap1,rx_pcap=$T/empty.pcap,tx_pcap=$d/out.pcap
EOF
    "$MOS" -q -n "$n" "$@" --stats "$d/stats.json" -s "out=$d/fd" "$SRC/scripts/flowdump.lua" "$d/mos.conf" \
        >"$d/log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    # SIGUSR1 before the handler is installed would kill it: wait for it
    for i in $(seq 1 600); do
        grep -q '^SigCgt:' "/proc/$pid/status" 2>/dev/null || break
        [ $(( 0x$(awk '/^SigCgt:/ { print $2 }' "/proc/$pid/status") >> 9 & 1 )) = 1 ] && break
        sleep 0.05
    done
    for i in $(seq 1 600); do # 60 s at most
        kill -0 "$pid" 2>/dev/null || break
        kill -USR1 "$pid" 2>/dev/null
        sleep 0.1
        fwd=$(counter "$d/stats.json" pkts_forwarded)
        other=$(counter "$d/stats.json" pkts_other_shard)
        [ $(( ${fwd:-0} + ${other:-0} )) -ge "$N" ] && break
    done
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    local rc=$?
    [ "$rc" = 0 ] && ok "$name: exits 0 on SIGINT" || bad "$name: exit $rc: $(head -c 300 "$d/log")"
    fwd=$(counter "$d/stats.json" pkts_forwarded)
    other=$(counter "$d/stats.json" pkts_other_shard)
    [ $(( ${fwd:-0} + ${other:-0} )) = "$N" ] && ok "$name: pkts_forwarded $fwd + pkts_other_shard $other = $N" ||
        bad "$name: pkts_forwarded ${fwd:-?} + pkts_other_shard ${other:-?}, want $N"
}

# Per-flow packet sequences of a pcap (any byte order/resolution), keyed by
# the unordered endpoint pair: equal dicts = same packets, same per-flow order.
cat >"$T/flows.py" <<'PY'
import struct, sys

def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        e = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            incl = struct.unpack(e + "IIII", h)[2]
            yield f.read(incl)

def key(fr):
    et, off = struct.unpack(">H", fr[12:14])[0], 14
    while et in (0x8100, 0x88a8):
        et, off = struct.unpack(">H", fr[off + 2:off + 4])[0], off + 4
    if et == 0x0800:
        ihl, proto = (fr[off] & 15) * 4, fr[off + 9]
        a, b, l4 = fr[off + 12:off + 16], fr[off + 16:off + 20], off + ihl
    elif et == 0x86DD:
        proto, a, b, l4 = fr[off + 6], fr[off + 8:off + 24], fr[off + 24:off + 40], off + 40
    else:
        return ("other",)
    sp, dp = struct.unpack(">HH", fr[l4:l4 + 4]) if proto in (6, 17) else (0, 0)
    return (proto,) + tuple(sorted([(a, sp), (b, dp)]))

def flows(path):
    d = {}
    for fr in frames(path):
        d.setdefault(key(fr), []).append(fr)
    return d

a, b = flows(sys.argv[1]), flows(sys.argv[2])
na, nb = sum(map(len, a.values())), sum(map(len, b.values()))
bad = [k for k in a if a[k] != b.get(k)] + [k for k in b if k not in a]
print("%d flows, %d packets in; %d flows, %d packets out; %d flows differ" % (len(a), na, len(b), nb, len(bad)))
sys.exit(1 if bad or na != nb else 0)
PY

# flowdump output without what legitimately varies (timestamps, file
# numbering, record order): each flow with its streams' sha256.
cat >"$T/norm.py" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
out = []
for line in open(os.path.join(d, "flows.jsonl")):
    r = json.loads(line)
    for k in ("first_ts", "last_ts"):
        r.pop(k, None)
    for side in ("c2s", "s2c"):
        s = r.get(side) or {}
        f = s.pop("file", None)
        if f:
            s["sha256"] = hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
    out.append(json.dumps(r, sort_keys=True))
for l in sorted(out):
    print(l)
PY

run n1 1
run n2 2
# io.shard on DPDK, with the distributor splitting each shard over 2 workers
run s0 2 -c io.shard=0/2
run s1 2 -c io.shard=1/2

for n in 1 2; do
    d=$T/n$n
    if r=$(python3 "$T/flows.py" "$T/in.pcap" "$d/out.pcap" 2>&1); then
        ok "-n $n: tx pcap = input, per flow, same order ($r)"
    else
        bad "-n $n: tx pcap differs from the input: $r"
    fi
    [ "$(counter "$d/stats.json" pkts_dropped_io)" = 0 ] && ok "-n $n: pkts_dropped_io = 0" \
        || bad "-n $n: pkts_dropped_io = $(counter "$d/stats.json" pkts_dropped_io)"
    # the generator's own totals: 64 flows, 4608 bytes up, 64 KiB down each
    if python3 - "$d/fd/flows.jsonl" "$T/in.pcap.json" <<'PY'; then
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
g = json.load(open(sys.argv[2]))
c2s = sum(r["c2s"]["bytes"] for r in recs)
s2c = sum(r["s2c"]["bytes"] for r in recs)
ok = len(recs) == g["flows_completed"] and c2s == g["payload_c2s"] and s2c == g["payload_s2c"]
ok = ok and all(r["s2c"]["bytes"] == g["flow_bytes"] and not r["s2c"]["gaps"] for r in recs)
print("%d flows, %d/%d bytes; generator: %d flows, %d/%d" % (
    len(recs), c2s, s2c, g["flows_completed"], g["payload_c2s"], g["payload_s2c"]))
sys.exit(0 if ok else 1)
PY
        ok "-n $n: flowdump totals = the generator's"
    else
        bad "-n $n: flowdump totals differ from the generator's"
    fi
done

if python3 "$T/norm.py" "$T/n1/fd" >"$T/norm1" && python3 "$T/norm.py" "$T/n2/fd" >"$T/norm2" &&
    [ -s "$T/norm1" ] && cmp -s "$T/norm1" "$T/norm2"; then
    ok "flowdump per-flow output identical for -n 1 and -n 2 ($(wc -l <"$T/norm1") flows)"
else
    bad "flowdump per-flow output differs between -n 1 and -n 2: $(diff "$T/norm1" "$T/norm2" 2>&1 | head -c 400)"
fi

# Shards: each forwards every frame (its own after the handlers, the other
# shard's untouched), and their flowdump outputs together are -n 1's.
for sh in s0 s1; do
    if r=$(python3 "$T/flows.py" "$T/in.pcap" "$T/$sh/out.pcap" 2>&1); then
        ok "$sh: tx pcap = input, per flow, same order ($r)"
    else
        bad "$sh: tx pcap differs from the input: $r"
    fi
done
if python3 "$T/norm.py" "$T/s0/fd" >"$T/norms" && python3 "$T/norm.py" "$T/s1/fd" >>"$T/norms" &&
    LC_ALL=C sort "$T/norms" >"$T/norms.sorted" && [ -s "$T/s0/fd/flows.jsonl" ] && [ -s "$T/s1/fd/flows.jsonl" ] &&
    cmp -s "$T/norm1" "$T/norms.sorted"; then
    ok "flowdump per-flow output of shards 0/2 + 1/2 = -n 1's"
else
    bad "shards' flowdump output differs from -n 1's: $(diff "$T/norm1" "$T/norms.sorted" 2>&1 | head -c 400)"
fi

if python3 - "$T/n2/stats.json" <<'PY'; then
import json, sys
s = json.load(open(sys.argv[1]))
per = [c["counters"] for c in s["per_core"]]
ok = len(per) == 2 and all(c["pkts_in"] > 0 for c in per)
ok = ok and sum(c["pkts_in"] for c in per) == s["counters"]["pkts_in"]
ok = ok and s["counters"]["flows_peak"] == max(c["flows_peak"] for c in per)
ok = ok and s["counters"]["flows_created"] == sum(c["flows_created"] for c in per) == 64
print("pkts_in per core %s, flows_peak per core %s, total %d" % (
    [c["pkts_in"] for c in per], [c["flows_peak"] for c in per], s["counters"]["flows_peak"]))
sys.exit(0 if ok else 1)
PY
    ok "-n 2: both workers got flows, totals sum, flows_peak is the max over cores"
else
    bad "-n 2: per-core counters wrong"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
