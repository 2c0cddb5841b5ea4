#!/usr/bin/env bash
# test_pipe_input.sh - live-like input from a FIFO or a pipe on stdin
# (`tcpdump -U -w - | mos-lua -r - ...`): what has arrived is processed
# without waiting for a full burst, and signals are served within a bounded
# delay whatever the input does (issue 13, bugs 1 and 2).
#
#   fifo_partial:  35 frames (fewer than one burst) go into a FIFO whose
#                  writer stays open; within 3 s the script must have seen
#                  all 35 and SIGUSR1 must write a --stats file saying so.
#   stdin_partial: the same through a pipe on stdin (-r -).
#   early_signals: SIGHUP and SIGUSR1 before the writer even opened the
#                  FIFO must not kill the process; SIGUSR1 writes the stats
#                  and SIGTERM then ends the run with status 0.
# Exit 77 when mos-lua, luajit or python3 is missing.
set -u
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
MOS=$BUILD/mos-lua
for tool in luajit python3; do
    command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
[ -x "$MOS" ] || { echo "SKIP: $MOS not built"; exit 77; }
WORK=$(mktemp -d /tmp/mos-pipe.XXXXXX)
trap '[ "${MOS_E2E_KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
export PYTHONDONTWRITEBYTECODE=1

# 5 connections of 7 packets (handshake, one request, FIN, FIN, ACK): 35 frames
OUT=$WORK/cap.pcap MOS_SOURCE_DIR=$SRC luajit -e '
  package.path = os.getenv("MOS_SOURCE_DIR") .. "/lua/?.lua;" .. package.path
  local T = require "mos.testing"
  local all = {}
  for k = 0, 4 do
    local pk = T.conn({ client = "10.1.0." .. (k + 1), cport = 40000 + k, ts = 1700000000 + k,
                        data = { { "c", "x" } } })
    table.remove(pk, 5) -- the server ACK of the request: 7 packets a connection
    for _, p in ipairs(pk) do all[#all + 1] = p end
  end
  T.write_pcap(os.getenv("OUT"), all)
' || { echo "FAIL: capture generation"; exit 1; }

cat >"$WORK/count.lua" <<'EOF'
local mos = require "mos"
local n = 0
local s = mos.socket("raw")
s:on(mos.PKT_IN, mos.HK_NONE, function() n = n + 1; mos.log{ msg = "pkt", n = n } end)
EOF

pass=0; failn=0
result() { # NAME MESSAGE(empty = pass)
    if [ -z "$2" ]; then pass=$((pass + 1)); echo "PASS $1"; else failn=$((failn + 1)); echo "FAIL $1: $2"; fi
}

# partial MODE(fifo|stdin): prints nothing on success, else what went wrong
partial() {
    local d=$WORK/$1
    mkdir -p "$d"
    python3 - "$MOS" "$WORK/cap.pcap" "$d" "$1" "$WORK/count.lua" <<'PY'
import json, os, signal, subprocess, sys, time
mos, cap, d, mode, script = sys.argv[1:6]
data = open(cap, "rb").read()
args = [mos, "--stats", d + "/stats.json", "-c", "log.file=" + d + "/log", script]
if mode == "fifo":
    os.mkfifo(d + "/fifo")
    p = subprocess.Popen(args[:1] + ["-r", d + "/fifo"] + args[1:], stderr=open(d + "/stderr", "wb"))
    w = open(d + "/fifo", "wb", buffering=0)
else:
    p = subprocess.Popen(args[:1] + ["-r", "-"] + args[1:], stdin=subprocess.PIPE, stderr=open(d + "/stderr", "wb"))
    w = p.stdin
w.write(data)
w.flush()
def seen():
    try:
        return sum(1 for l in open(d + "/log") if '"pkt"' in l)
    except OSError:
        return 0
fail = []
deadline = time.time() + 3
while seen() < 35 and time.time() < deadline:
    time.sleep(0.02)
if seen() != 35:
    fail.append("%d of 35 frames processed after 3 s with the writer open" % seen())
os.kill(p.pid, signal.SIGUSR1)
deadline = time.time() + 3
st = None
while time.time() < deadline and st is None:
    try:
        st = json.load(open(d + "/stats.json"))
    except (OSError, ValueError):
        time.sleep(0.02)
if st is None:
    fail.append("SIGUSR1 wrote no --stats file within 3 s")
elif st["counters"]["pkts_in"] != 35:
    fail.append("--stats on SIGUSR1 says pkts_in %d" % st["counters"]["pkts_in"])
w.close()
try:
    rc = p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill(); rc = "hung"
if rc != 0:
    fail.append("exit %s: %s" % (rc, open(d + "/stderr").read()))
print("; ".join(fail))
PY
}

result fifo_partial "$(partial fifo)"
result stdin_partial "$(partial stdin)"

# Signals before the first input byte: nobody has opened the FIFO yet.
early() {
    local d=$WORK/early
    mkdir -p "$d"
    python3 - "$MOS" "$d" "$WORK/count.lua" <<'PY'
import json, os, signal, subprocess, sys, time
mos, d, script = sys.argv[1:4]
os.mkfifo(d + "/fifo")
p = subprocess.Popen([mos, "-r", d + "/fifo", "--stats", d + "/stats.json", "-c", "log.file=" + d + "/log",
                      script], stderr=open(d + "/stderr", "wb"))
fail = []
time.sleep(0.5)
os.kill(p.pid, signal.SIGHUP)
time.sleep(0.2)
os.kill(p.pid, signal.SIGUSR1)
deadline = time.time() + 3
while time.time() < deadline and not os.path.exists(d + "/stats.json") and p.poll() is None:
    time.sleep(0.02)
if p.poll() is not None:
    fail.append("killed by an early signal (exit %d)" % p.returncode)
elif not os.path.exists(d + "/stats.json"):
    fail.append("SIGUSR1 before any input wrote no --stats file within 3 s")
if p.poll() is None:
    os.kill(p.pid, signal.SIGTERM)
try:
    rc = p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill(); p.wait(); rc = "hung after SIGTERM"
if not fail and rc != 0:
    fail.append("exit %s after SIGTERM: %s" % (rc, open(d + "/stderr").read()))
print("; ".join(fail))
PY
}
result early_signals "$(early)"

echo "$pass passed, $failn failed"
[ $failn -eq 0 ]
