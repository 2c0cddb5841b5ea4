#!/usr/bin/env bash
# test_watchdog.sh - stuck handlers with the DEFAULT lua.handler_timeout
# (2000 ms), on a small corpus capture, every run bounded by timeout 30:
#   - a compiled endless loop in a PKT_IN handler is reported on stderr
#     (naming script:line) and the process exits with status 3 (--help);
#   - an interpreted endless loop is interrupted: the run completes, the
#     error is counted (handler_errors = 1) and logged with script:line;
#   - the --stats file carries each core's Lua heap, and a script holding
#     ~200k strings shows it (hand estimate: > 4 MB more than an idle one).
# Exit 77 when mos-lua is not built or the capture is absent.
set -u
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
SHARED=${MOS_SHARED_DIR:-$SRC/../shared}
MOS=$BUILD/mos-lua
CAP=$SHARED/pcaps/pcapplusplus-three_http_streams.pcap
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
[ -f "$CAP" ] || { echo "SKIP: $CAP absent"; exit 77; }
W=$(mktemp -d /tmp/mos-wd.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: ${2:-}"; }

printf 'local mos = require "mos"\nlocal s = mos.socket("stream")\ns:on(mos.PKT_IN, mos.HK_RCV, function(flow)\n  while true do end\nend)\n' >"$W/compiled.lua"
timeout 30 "$MOS" -r "$CAP" --stats "$W/c.json" -c "log.file=$W/c.log" "$W/compiled.lua" >"$W/c.out" 2>"$W/c.err"
rc=$?
if [ $rc -eq 3 ] && grep -qF "watchdog: core 0: $W/compiled.lua:3 has been running for" "$W/c.err" \
    && grep -qF "lua.handler_timeout = 2000 ms" "$W/c.err" && grep -qF "exiting with status 3" "$W/c.err" \
    && [ -s "$W/c.json" ]; then
    ok compiled-loop-exits-3
else
    ko compiled-loop-exits-3 "exit $rc: $(cat "$W/c.err")"
fi

cat >"$W/interp.lua" <<'EOF'
local mos = require "mos"
local s = mos.socket("stream")
local n, stuck = 0, false
s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
  n = n + 1
  if not stuck then
    stuck = true
    jit.off(true) -- this function interpreted from here on: hooks can stop it
    while true do end
  end
end)
mos.on_exit(function() print("pkts", n) end)
EOF
NP=$(tshark -r "$CAP" 2>/dev/null | wc -l)
timeout 30 "$MOS" -r "$CAP" --stats "$W/i.json" -c "log.file=$W/i.log" "$W/interp.lua" >"$W/i.out" 2>"$W/i.err"
rc=$?
if [ $rc -eq 0 ] && grep -qF "watchdog: core 0: $W/interp.lua:4 has been running for" "$W/i.err" \
    && python3 - "$W/i.json" "$W/i.log" "$W/i.out" "$NP" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
assert st["counters"]["handler_errors"] == 1, st["counters"]["handler_errors"]
errs = [json.loads(l) for l in open(sys.argv[2]) if '"handler error"' in l]
assert len(errs) == 1 and "handler timed out after 2000 ms" in errs[0]["error"], errs
assert errs[0]["where"].endswith("interp.lua:4") and errs[0]["event"] == "PKT_IN", errs
assert open(sys.argv[3]).read() == "pkts\t%s\n" % sys.argv[4]
PY
then ok interpreted-loop-interrupted; else ko interpreted-loop-interrupted "exit $rc: $(cat "$W/i.err")"; fi

printf 'local mos = require "mos"\n' >"$W/idle.lua"
# the handler keeps the table alive until the final collection
printf 'local mos = require "mos"\nlocal keep = {}\nfor i = 1, 200000 do keep[i] = "s" .. i end\nmos.socket("stream"):on(mos.CONN_END, mos.HK_NONE, function() return #keep end)\n' >"$W/big.lua"
timeout 30 "$MOS" -q -r "$CAP" --stats "$W/idle.json" "$W/idle.lua" >/dev/null 2>&1
timeout 30 "$MOS" -q -r "$CAP" --stats "$W/big.json" "$W/big.lua" >/dev/null 2>&1
if python3 - "$W/idle.json" "$W/big.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ka, kb = a["per_core"][0]["lua_mem_kb"], b["per_core"][0]["lua_mem_kb"]
assert ka > 0 and kb - ka > 4000, (ka, kb)
PY
then ok lua-memory-in-stats; else ko lua-memory-in-stats "$(cat "$W/idle.json" "$W/big.json")"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
