#!/usr/bin/env bash
# test_reload_storm.sh - 100 reloads while N TCP flows are live (default
# 100,000), alternating a good script and one rejected at its top level.
#
# reload/storm_pcap.py writes the capture (all N flows open together, then
# two rounds of data each way, then all close); reload/storm.lua counts
# every packet into its flow's ctx and requests a reload every 1990 packets
# during the second data round, where the flow count and the stream rings
# no longer change, recording the Lua heap (after a full collection) and
# the RSS before each request. Requires:
#   - every packet counted exactly once (= ev_pkt_in = N * 10) and, at each
#     flow's end, its ctx count equal to the packets it sent: flow.ctx kept
#     across reloads, nothing lost or doubled;
#   - N flows started and N ended (= flows_created): no flow lost;
#   - 100 reloads requested, 50 applied and 50 rejected ("reload failed"
#     logged 50 times), no handler of the rejected script ever ran;
#   - Lua heap and RSS flat over the reloads: growth from the 10th to the
#     100th sample within MOS_STORM_LUA_KB (256 KB) and MOS_STORM_RSS_KB
#     (2 MB; x4 under ASan, whose quarantine is not ours).
# Prints the figures. Exit 77 when mos-lua is not built.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${MOS_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
N=${MOS_STORM_FLOWS:-100000}
LUA_KB=${MOS_STORM_LUA_KB:-256}
RSS_KB=${MOS_STORM_RSS_KB:-2048}
ldd "$MOS" 2>/dev/null | grep -q libasan && RSS_KB=$((RSS_KB * 4))
W=$(mktemp -d /tmp/mos-storm.XXXXXX)
trap 'rm -rf "$W"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

python3 "$here/reload/storm_pcap.py" "$W/storm.pcap" "$N" 2 || { echo "FAIL: capture generation"; exit 1; }
# The second data round: packets 6N+1 .. 8N (handshakes 3N, first round 2N).
first=$((5 * N + 1000))
every=$(((2 * N - 2000) / 100))
start=$(date +%s.%N)
timeout -k 10 600 "$MOS" -r "$W/storm.pcap" -c core.checksum=ignore --stats "$W/stats.json" \
    -s good="$here/reload/storm.lua" -s broken="$here/reload/storm_broken.lua" \
    -s every="$every" -s reloads=100 -s first="$first" -s out="$W/storm.json" \
    "$here/reload/storm.lua" >"$W/stdout" 2>"$W/stderr"
rc=$?
end=$(date +%s.%N)
python3 - "$W" "$N" "$rc" "$LUA_KB" "$RSS_KB" "$start" "$end" <<'PY'
import json, sys
w, n, rc, lua_kb, rss_kb, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
err = open(w + "/stderr", errors="replace").read()
fails = []
if rc != 0:
    fails.append("exit %d: %s" % (rc, err[-500:]))
if "Sanitizer" in err or "runtime error" in err:
    fails.append("sanitizer report: " + err[:500])
try:
    st = json.load(open(w + "/storm.json"))
    ctr = json.load(open(w + "/stats.json"))["counters"]
except (OSError, ValueError) as e:
    print("FAIL: no figures (%s)" % e)
    sys.exit(1)
def need(cond, msg):
    if not cond:
        fails.append(msg)
need(st["pkts"] == n * 10 == ctr["ev_pkt_in"], "packets counted %d, ev_pkt_in %d, expected %d" % (st["pkts"], ctr["ev_pkt_in"], n * 10))
need(st["ctx_lost"] == 0, "%d packets found their flow.ctx empty" % st["ctx_lost"])
need(st["end_mismatch"] == 0, "%d flows ended with a ctx count != packets sent" % st["end_mismatch"])
need(st["starts"] == st["ends"] == n == ctr["flows_created"], "flows started %d, ended %d, created %d, expected %d" % (st["starts"], st["ends"], ctr["flows_created"], n))
need(st["asked"] == 100, "%d reloads requested, expected 100" % st["asked"])
need(st["loads"] == 51, "%d loads (first + applied reloads), expected 51" % st["loads"])
rejected = sum(1 for l in err.splitlines() if "reload failed" in l)
need(rejected == 50, "%d reloads rejected, expected 50" % rejected)
need(ctr["handler_errors"] == 0, "%d handler errors (a rejected script's handler ran?)" % ctr["handler_errors"])
lua, rss = st["lua_kb"], st["rss_kb"]
dl, dr = max(lua[9:]) - lua[9], max(rss[9:]) - rss[9]
need(dl <= lua_kb, "Lua heap grew %.0f KB over reloads 10..100 (bound %.0f)" % (dl, lua_kb))
need(dr <= rss_kb, "RSS grew %.0f KB over reloads 10..100 (bound %.0f)" % (dr, rss_kb))
print("%d flows, %d packets, 100 reloads (50 applied, 50 rejected) in %.1f s" % (n, st["pkts"], t1 - t0))
print("Lua heap after full GC: %.0f KB at reload 10, %.0f KB at 100 (max growth %.0f KB)" % (lua[9], lua[-1], dl))
print("RSS: %.0f KB at reload 10, %.0f KB at 100 (max growth %.0f KB)" % (rss[9], rss[-1], dr))
for f in fails:
    print("FAIL: " + f)
print("%d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
sys.exit(1 if fails else 0)
PY
