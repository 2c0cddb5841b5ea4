#!/usr/bin/env bash
# test_cli.sh - the mos-lua command line: every option, the exit codes of
# --help, config errors naming file, line and key (from a config file and
# from -c), and --stats written on demand (SIGUSR1) while a run is blocked
# on a named pipe, then again at exit. Expectations are the documented
# behaviour (--help text, lua/README.md), worked out by hand.
# Exit 77 when mos-lua is not built, or when nothing failed but the corpus
# runs could not be made (capture absent).
set -u
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
W=$(mktemp -d /tmp/mos-cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
CAP=$SRC/../shared/pcaps/pcapplusplus-three_http_streams.pcap
[ -n "${MOS_SHARED_DIR:-}" ] && CAP=$MOS_SHARED_DIR/pcaps/pcapplusplus-three_http_streams.pcap

pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: ${2:-}"; }
# expect NAME WANT_RC GREP_PATTERN(stdout+stderr, fixed string; '' = none) -- ARGS...
expect() {
    local name=$1 want=$2 pat=$3
    shift 4
    timeout -k 5 60 "$MOS" "$@" >"$W/out" 2>&1
    local rc=$?
    if [ $rc -ne "$want" ]; then ko "$name" "exit $rc, wanted $want: $(head -c 400 "$W/out")"; return; fi
    if [ -n "$pat" ] && ! grep -qF -- "$pat" "$W/out"; then ko "$name" "no '$pat' in: $(head -c 400 "$W/out")"; return; fi
    ok "$name"
}

S=$W/s.lua
cat >"$S" <<'EOF'
local mos = require "mos"
mos.log({ level = "info", msg = "script-info" })
local s = mos.socket("stream")
local n = 0
s:on(mos.PKT_IN, mos.HK_RCV, function() n = n + 1 end)
mos.on_exit(function() print("pkts " .. n .. " param " .. tostring(mos.param.k)) end)
EOF
VERSION=$(sed -n 's/^project(mos_lua VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")

# --help and --version exit 0; --help lists every option and the exit codes
expect help 0 "Exit status: 0 ok, 1 runtime error" -- --help
for o in "-r, --read" "-i, --interface" "-n, --cores" "-s KEY=VALUE" "-c KEY=VALUE" "--check" "--stats FILE" \
         "--watch" "-v, --verbose" "-q, --quiet" "-h, --help" "-V, --version" "3 a handler ran past"; do
    grep -qF -- "$o" "$W/out" || ko "help mentions $o"
done
expect version 0 "mos-lua $VERSION" -- --version
expect version-short 0 "mos-lua $VERSION" -- -V

# usage errors: exit 2 with the culprit named
expect no-script 2 "expected SCRIPT [CONFIG]" --
expect bad-option 2 "usage:" -- --bogus "$S"
expect bad-cores 2 "-n: expected 1..64, got '0'" -- -n 0 "$S"
expect bad-param 2 "-s: expected KEY=VALUE, got 'noeq'" -- -s noeq "$S"
expect bad-override-syntax 2 "-c: expected KEY=VALUE" -- -c novalue "$S"
# config errors name the key (and file:line for a file)
printf 'core.cores = 1\nlua.bogus = 3\n' >"$W/unknown.conf"
expect conf-unknown-key 2 "$W/unknown.conf:2: unknown key 'lua.bogus'" -- --check "$S" "$W/unknown.conf"
printf '# comment\n\nlua.handler_timeout = soon\n' >"$W/type.conf"
expect conf-wrong-type 2 "$W/type.conf:3: lua.handler_timeout: expected a duration" -- --check "$S" "$W/type.conf"
expect override-unknown-key 2 "unknown key 'lua.nope'" -- --check -c lua.nope=1 "$S"
expect override-wrong-type 2 "lua.handler_timeout: expected a duration" -- --check -c lua.handler_timeout=xyz "$S"
expect conf-missing 2 "$W/none.conf" -- --check "$S" "$W/none.conf"
# script errors: exit 2, file:line
printf 'local mos = require "mos"\nlocal x = = 1\n' >"$W/syntax.lua"
expect script-syntax 2 "$W/syntax.lua:2:" -- --check "$W/syntax.lua"
printf 'local mos = require "mos"\n\nerror("no thanks")\n' >"$W/raise.lua"
expect script-error 2 "$W/raise.lua:3: no thanks" -- --check "$W/raise.lua"
# runtime errors: exit 1 naming the input
expect unreadable-capture 1 "$W/none.pcap" -- -r "$W/none.pcap" "$S"
printf 'not a capture at all, just text\n' >"$W/text.pcap"
expect garbage-capture 1 "$W/text.pcap" -- -r "$W/text.pcap" "$S"
expect no-input 2 "no input" -- "$S"

# --check loads without running; -q silences the script's info logs, the
# default shows them; -s reaches mos.param
expect check 0 "script-info" -- --check "$S"
timeout 60 "$MOS" --check -q "$S" >"$W/out" 2>&1
if [ $? -eq 0 ] && ! grep -q script-info "$W/out"; then ok quiet; else ko quiet "$(cat "$W/out")"; fi
if [ -f "$CAP" ]; then
    NP=$(tshark -r "$CAP" 2>/dev/null | wc -l)
    expect run-param 0 "param v1" -- -r "$CAP" -s k=v1 -q "$S"
    expect run-cores-1 0 "pkts " -- -n 1 -r "$CAP" -q "$S"
    expect run-verbose 0 "" -- -v -r "$CAP" "$S"
    # --stats at exit: counters, per core, Lua heap per core
    timeout 60 "$MOS" -q -r "$CAP" --stats "$W/st.json" "$S" >/dev/null 2>&1
    if python3 - "$W/st.json" "$NP" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert st["counters"]["pkts_in"] == n, (st["counters"]["pkts_in"], n)
assert st["cores"] == 1 and len(st["per_core"]) == 1
assert st["per_core"][0]["counters"]["pkts_in"] == n
assert st["per_core"][0]["lua_mem_kb"] > 0 and st["lua_mem_kb"] == st["per_core"][0]["lua_mem_kb"]
PY
    then ok stats-at-exit; else ko stats-at-exit "$(cat "$W/st.json")"; fi
else
    echo "SKIP corpus runs: $CAP absent"
    partial=1
fi

# --stats on demand: the capture comes through a pipe; after half of it,
# SIGUSR1 must write the file (records go in one at a time until the file
# appears), then the rest, then the final file.
mkfifo "$W/fifo"
OUT=$W/c.pcap MOS_SOURCE_DIR=$SRC luajit -e '
  package.path = os.getenv("MOS_SOURCE_DIR") .. "/lua/?.lua;" .. package.path
  local T = require "mos.testing"
  local all = {}
  for k = 0, 19 do -- 20 connections of 6 packets (handshake, FIN, FIN, ACK)
    for _, p in ipairs(T.conn({ client = "10.9.0." .. (k + 1), cport = 1000 + k, ts = 1700000000 + k })) do
      all[#all + 1] = p
    end
  end
  T.write_pcap(os.getenv("OUT"), all)' 2>/dev/null || ko usr1-capture
timeout -k 5 60 "$MOS" -q -r "$W/fifo" --stats "$W/u.json" "$S" >/dev/null 2>"$W/u.err" &
pid=$!
if python3 - "$W/c.pcap" "$W/fifo" "$W/u.json" "$pid" <<'PY'
import json, os, signal, struct, sys, time
cap, fifo, stats, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(cap, "rb").read()
recs, off = [], 24
while off < len(data):
    n = struct.unpack_from("<I", data, off + 8)[0]
    recs.append(data[off:off + 16 + n]); off += 16 + n
out = open(fifo, "wb", buffering=0)
out.write(data[:24] + b"".join(recs[:40]))
# pid is timeout(1)'s, which does not forward SIGUSR1: signal its child.
# (mos-lua installs its handlers before it opens anything.)
child = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()[0]
time.sleep(0.2)
os.kill(int(child), signal.SIGUSR1)
i, deadline, snap = 40, time.time() + 30, None
while snap is None and time.time() < deadline:
    if os.path.exists(stats):
        snap = json.load(open(stats))
    elif i < len(recs) - 1:
        out.write(recs[i]); i += 1
    time.sleep(0.02)
out.write(b"".join(recs[i:]))
out.close()
assert snap is not None, "no stats file after SIGUSR1"
got = snap["counters"]["pkts_in"]
assert 0 < got < len(recs), "mid-run dump has %d of %d packets" % (got, len(recs))
assert snap["per_core"][0]["lua_mem_kb"] > 0
PY
then
    wait $pid; rc=$?
    if [ $rc -eq 0 ] && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["counters"]["pkts_in"] == 120' "$W/u.json"; then
        ok stats-on-sigusr1
    else
        ko stats-on-sigusr1 "exit $rc $(cat "$W/u.err") $(cat "$W/u.json")"
    fi
else
    kill "$pid" 2>/dev/null; wait $pid
    ko stats-on-sigusr1 "$(cat "$W/u.err")"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ] || exit 1
# The corpus runs did not happen: skipped, not passed (run-tests.sh says so).
[ "${partial:-0}" = 0 ] || exit 77
