#!/usr/bin/env bash
# reload_pause.sh - what one SIGHUP reload stops the packet path for, with
# 100k and 1M tracked flows and on the benchmark's small capture, and the
# longest steady-state stall (bench/lua_apps/reload_pause.lua).
#
#   bench/reload_pause.sh            # -> bench/results/reload_pause.md
#
# Captures go to $MOS_BENCH_DIR (default /tmp/mos-bench): flows100k.pcap and
# flows1m.pcap from tests/e2e/reload/storm_pcap.py (N connections open at
# once, one data round, then all close: ~74 MB and ~590 MB), and small.pcap
# when bench/run.sh made it (about 190k tracked flows; skipped otherwise).
# The SIGHUP is sent in the middle of the run, with all N flows tracked.
# mos-lua: $MOS_LUA or build/mos-lua (use a Release build). RUNS runs per
# capture (default 3); figures are medians over the runs. Run it alone
# (flock /tmp/mos-bench.lock): every stall on a busy machine is the
# scheduler's as much as ours.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
D=${MOS_BENCH_DIR:-/tmp/mos-bench}
MOS=${MOS_LUA:-$SRC/build/mos-lua}
RUNS=${RUNS:-3}
OUT=${OUT:-$HERE/results/reload_pause.md}
mkdir -p "$D/results/reload_pause"
[ -x "$MOS" ] || { echo "mos-lua not found at $MOS (set MOS_LUA)"; exit 1; }

caps=()
for n in 100000 1000000; do
    name=flows$((n / 1000))k
    [ $n = 1000000 ] && name=flows1m
    f=$D/$name.pcap
    [ -s "$f" ] || python3 "$SRC/tests/e2e/reload/storm_pcap.py" "$f" "$n" 1
    # packets: 3N handshakes, 2N data, 3N closing; the HUP halfway through the data
    caps+=("$name:$f:$((4 * n)):-c core.checksum=ignore")
done
if [ -s "$D/small.pcap" ]; then
    caps+=("small:$D/small.pcap:3000000:")
else
    echo "no $D/small.pcap (bench/run.sh small makes it): that row is skipped"
fi

rows=()
for c in "${caps[@]}"; do
    IFS=: read -r name f hup extra <<<"$c"
    for r in $(seq "$RUNS"); do
        # shellcheck disable=SC2086
        "$MOS" -q -r "$f" $extra -s hup_at="$hup" -s out="$D/results/reload_pause/$name.$r.json" \
            "$HERE/lua_apps/reload_pause.lua"
    done
    rows+=("$(python3 - "$D/results/reload_pause" "$name" "$RUNS" <<'PY'
import json, statistics, sys
d, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = [json.load(open("%s/%s.%d.json" % (d, name, r))) for r in range(1, runs + 1)]
m = lambda k: statistics.median(x[k] for x in rs)
assert all(x["loads"] == 2 for x in rs), "the reload did not happen"
print("| %s | %d | %d | %.2f | %.1f | %.1f | %.1f | %.1f |" % (
    name, m("flows_at_hup"), m("packets"), m("median_ms_per_1000"), m("reload_interval_ms"),
    m("reload_excess_ms"), m("steady_max_ms"), m("p99_ms_per_1000")))
PY
)")
done
{
    echo "# Reload pause"
    echo
    echo "\`bench/reload_pause.sh\` ($(date -u +%Y-%m-%d), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) when it ended; medians of $RUNS runs)."
    echo "One SIGHUP halfway through the run reloads bench/lua_apps/reload_pause.lua, which counts"
    echo "packets and stamps the clock every 1000th. ms columns: time per 1000 packets (median),"
    echo "the interval holding the reload, the excess over the median of that interval and the 19"
    echo "after it (the reload flushes LuaJIT's traces, which then recompile), the longest other"
    echo "interval after the first 10% (steady-state stall), and the 99th percentile interval."
    echo
    echo "| capture | tracked flows at the reload | packets | ms / 1000 pkts | reload interval ms | reload excess ms | steady max ms | p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} >"$OUT"
cat "$OUT"
