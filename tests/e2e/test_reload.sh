#!/usr/bin/env bash
# test_reload.sh - hot reload end to end: a real SIGHUP and --watch, landing
# mid-run, deterministically.
#
# mos-lua reads the capture from a named pipe fed by a writer this test
# controls: the pcap header and the first half of the records go in, then
# the script file is replaced and SIGHUP sent (or, with --watch, nothing
# else), then records go in one at a time until the log says the reload was
# handled (a reload happens between two engine steps), then the rest. Both scripts count every packet of
# every flow into flow.ctx (v1 and v2 counters) and log the counts at
# CONN_END, so the checks are: the counts over all flows equal the number of
# packets tshark sees (none lost, none processed twice), both versions
# counted some, flows born under v1 end under v2 with their ctx, every
# CONN_END after the reload is v2's. A broken new script (syntax error,
# runtime error while loading) keeps v1, and the log names file:line.
# Exit 77 when mos-lua, luajit or tshark is missing.
set -u
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
for tool in luajit tshark python3; do
    command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }

WORK=$(mktemp -d /tmp/mos-reload.XXXXXX)
trap '[ "${MOS_E2E_KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
export PYTHONDONTWRITEBYTECODE=1

# 24 connections of 12 packets, each starting 3 ms after the previous one, so
# several are open at any moment (the reload lands inside some of them).
OUT=$WORK/cap.pcap MOS_SOURCE_DIR=$SRC luajit -e '
  package.path = os.getenv("MOS_SOURCE_DIR") .. "/lua/?.lua;" .. package.path
  local T = require "mos.testing"
  local all = {}
  for k = 0, 23 do
    local pk = T.conn({ client = "10.1.0." .. (k + 1), cport = 40000 + k, server = "10.2.0.1", sport = 80,
                        ts = 1700000000 + k * 0.003, data = { { "c", "req" .. k }, { "s", "resp" .. k }, { "c", "x" } } })
    for _, p in ipairs(pk) do all[#all + 1] = p end
  end
  table.sort(all, function(a, b) return a.ts_us < b.ts_us end)
  T.write_pcap(os.getenv("OUT"), all)
' || { echo "FAIL: capture generation"; exit 1; }
NPKTS=$(tshark -r "$WORK/cap.pcap" 2>/dev/null | wc -l)
[ "$NPKTS" -gt 200 ] || { echo "FAIL: tshark counts $NPKTS packets"; exit 1; }

script() { # $1 = version tag
    cat <<EOF
local mos = require "mos"
mos.log({ msg = "loaded", v = "$1" })
local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow) flow.ctx.born = "$1"; mos.log({ msg = "start", v = "$1" }) end)
s:on(mos.PKT_IN, mos.HK_RCV, function(flow) local c = flow.ctx; c.$1 = (c.$1 or 0) + 1 end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local c = flow.ctx
  mos.log({ msg = "end", flow = tonumber(flow.id), born = c.born, v1 = c.v1 or 0, v2 = c.v2 or 0, by = "$1" })
end)
EOF
}

# run NAME MODE(hup|watch) NEWSCRIPT-FILE: leaves $WORK/NAME/{log,stats.json,stderr,rc}
run() {
    local name=$1 mode=$2 new=$3 d=$WORK/$1
    mkdir -p "$d"
    script v1 >"$d/script.lua"
    mkfifo "$d/fifo"
    local watch=()
    [ "$mode" = watch ] && watch=(--watch)
    # never hang the suite: the whole run is bounded
    timeout -k 5 60 "$MOS" "${watch[@]}" -r "$d/fifo" --stats "$d/stats.json" -c "log.file=$d/log" \
        -c log.level=info "$d/script.lua" >"$d/stdout" 2>"$d/stderr" &
    local pid=$!
    python3 - "$WORK/cap.pcap" "$d/fifo" "$d/log" "$d/script.lua" "$new" "$mode" "$pid" <<'PY'
import os, signal, struct, sys, time
cap, fifo, log, script, new, mode, pid = sys.argv[1:8]
data = open(cap, "rb").read()
recs, off = [], 24
while off < len(data):
    incl = struct.unpack_from("<I", data, off + 8)[0]
    recs.append(data[off:off + 16 + incl]); off += 16 + incl
out = open(fifo, "wb", buffering=0)
half = len(recs) // 2
out.write(data[:24] + b"".join(recs[:half]))
def logtext():
    try:
        return open(log).read()
    except OSError:
        return ""
# v1 must be running and processing packets before the script changes (its
# CONN_END records come later: closed flows wait for their TIME_WAIT)
deadline = time.time() + 30
while '"msg":"start"' not in logtext() and time.time() < deadline:
    time.sleep(0.01)
# the new script replaces the old file in one step (as editors do)
tmp = script + ".tmp"
with open(tmp, "wb") as f: f.write(open(new, "rb").read())
os.replace(tmp, script)
if mode == "hup":
    os.kill(int(pid), signal.SIGHUP)
def handled():
    t = logtext()
    return '"script reloaded"' in t or '"reload failed' in t
i, deadline = half, time.time() + 30
while i < len(recs) - 1 and not handled() and time.time() < deadline:
    out.write(recs[i]); i += 1
    time.sleep(0.02)
if not handled():
    print("reload not handled before record %d of %d" % (i, len(recs)))
out.write(b"".join(recs[i:]))
out.close()
PY
    wait $pid
    echo $? >"$d/rc"
}

# check NAME EXPECT(ok|syntax|load) NPKTS
check() {
    python3 - "$WORK/$1" "$2" "$3" <<'PY'
import json, sys
d, expect, npkts = sys.argv[1], sys.argv[2], int(sys.argv[3])
fail = []
rc = int(open(d + "/rc").read())
if rc != 0: fail.append("exit %d: %s" % (rc, open(d + "/stderr").read()))
recs = [json.loads(l) for l in open(d + "/log") if l.strip()]
ends = [r for r in recs if r.get("msg") == "end"]
total = sum(r["v1"] + r["v2"] for r in ends)
if total != npkts: fail.append("packets counted %d, tshark %d" % (total, npkts))
if len({r["flow"] for r in ends}) != 24 or len(ends) != 24: fail.append("%d CONN_END records" % len(ends))
st = json.load(open(d + "/stats.json"))
if st["counters"]["pkts_in"] != npkts: fail.append("pkts_in %d" % st["counters"]["pkts_in"])
idx = [i for i, r in enumerate(recs) if r.get("msg") in ("script reloaded", "reload failed, keeping the running script")]
if len(idx) != 1: fail.append("%d reload records" % len(idx))
else:
    at = idx[0]
    if not any(r.get("msg") == "end" for r in recs[at:]): fail.append("the reload did not land mid-run")
    if expect == "ok":
        if recs[at]["msg"] != "script reloaded": fail.append("reload failed: %s" % recs[at])
        if any(r["by"] != "v1" for r in ends if recs.index(r) < at): fail.append("v2 ended a flow before the reload")
        if any(r["by"] != "v2" for r in recs[at:] if r.get("msg") == "end"): fail.append("v1 handler after the reload")
        if not any(r["born"] == "v1" and r["by"] == "v2" and r["v1"] > 0 and r["v2"] > 0 for r in ends):
            fail.append("no flow spans the reload with its ctx")
        if not any(r["born"] == "v2" for r in ends): fail.append("no flow born under v2")
        if sum(r["v1"] for r in ends) == 0 or sum(r["v2"] for r in ends) == 0: fail.append("one version counted nothing")
    else:
        e = recs[at]
        if e["msg"] != "reload failed, keeping the running script": fail.append("not rejected: %s" % e)
        want = {"syntax": "script.lua:4:", "load": "script.lua:3: refusing to load"}[expect]
        if want not in e.get("error", ""): fail.append("error does not name %s: %s" % (want, e.get("error")))
        if any(r["by"] != "v1" or r["v2"] != 0 for r in ends): fail.append("the broken script ran")
print("; ".join(fail) if fail else "")
sys.exit(1 if fail else 0)
PY
}

pass=0; failn=0
result() { # NAME
    if out=$(check "$@"); then pass=$((pass + 1)); echo "PASS $1"; else failn=$((failn + 1)); echo "FAIL $1: $out"; fi
}

script v2 >"$WORK/v2.lua"
printf 'local mos = require "mos"\nlocal s = mos.socket("stream")\ns:on(mos.PKT_IN,\n' >"$WORK/syntax.lua"
printf 'local mos = require "mos"\nlocal s = mos.socket("stream")\nerror("refusing to load")\n' >"$WORK/load.lua"

run hup_ok hup "$WORK/v2.lua";           result hup_ok ok "$NPKTS"
run hup_syntax hup "$WORK/syntax.lua";   result hup_syntax syntax "$NPKTS"
run hup_load hup "$WORK/load.lua";       result hup_load load "$NPKTS"
run watch_ok watch "$WORK/v2.lua";       result watch_ok ok "$NPKTS"
run watch_syntax watch "$WORK/syntax.lua"; result watch_syntax syntax "$NPKTS"

echo "$pass passed, $failn failed"
[ $failn -eq 0 ]
