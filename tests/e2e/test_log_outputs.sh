#!/usr/bin/env bash
# test_log_outputs.sh - mos.log lines reach every log.output, and an output
# that goes away costs neither packets nor exactness.
#
# A paced generator writes 3,000 SYNs (one new connection each) into a FIFO
# over ~3 s; the script logs one record per connection, {"seq": flow id}
# (ids count connections on core 0, whatever reloads happen). Then, per
# output:
#   - unix-stream: a real reader (Python, one line per record appended to a
#     file) is killed (SIGTERM: exits without reading what is queued) and
#     restarted mid-run;
#   - redis list and stream: a real redis-server (AOF, appendfsync always,
#     so what it acknowledged survives) is killed with SIGKILL and restarted
#     mid-run;
#   - file: moved away and SIGHUP mid-run (logrotate), both files together;
#   - unix-dgram: the reader starts only after the run did; syslog: RFC 3164
#     header on a datagram socket given by log.socket; stderr;
#   - a stream socket nobody reads, with a 64 KiB log.buffer: records
#     dropped and counted, every connection still processed.
# Each time: every connection was processed (ev_conn_start), the records
# that arrived are in order with no duplicate, at least log_records_written
# of them arrived (and at most that plus log_records_dropped: a record sent
# but never confirmed is given up, even if the reader got it before dying),
# and log_records_written + log_records_dropped = records logged.
#
# Exit: 0 all good, 1 failures, 77 skipped (no mos-lua; the redis part is
# reported as skipped, not passed, when redis-server is absent).
set -u
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup logout
NCONN=3000
pass=0 fail=0 skipped=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

cat >"$WORK/seq.lua" <<'LUA'
local mos = require "mos"
local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow) mos.log{ seq = tonumber(flow.id) } end)
LUA

cat >"$WORK/gen.py" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[3])
import pcapgen as g
n, out = int(sys.argv[1]), sys.argv[2]
w = g.PcapWriter(out)
for i in range(n):
    c = g.Conn(w, cli=("10.9.%d.%d" % (i // 250, i % 250 + 1), 20000 + i % 30000), srv=("10.8.0.1", 80), isn=(i, 0))
    c.seg(0, g.SYN)
    if i % 100 == 99:
        w.f.flush()
        time.sleep(0.1)
w.close()
PY

cat >"$WORK/reader.py" <<'PY'
# reader.py stream|dgram PATH OUT: append every line read to OUT at once
# (complete lines only, as a log pipeline's line reader takes them);
# SIGTERM: exit at once, leaving what the socket still holds unread.
import os, signal, socket, sys
kind, path, out = sys.argv[1:4]
stop = False
def on_term(sig, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
f = open(out, "ab", buffering=0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == "stream" else socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.05)
open(out + ".ready", "w").close()
if kind == "dgram":
    while not stop:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        f.write(d + b"\n")
    sys.exit(0)
s.listen(1)
while not stop:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(0.05)
    part = b""
    while not stop:
        try:
            d = c.recv(4096)
        except socket.timeout:
            continue
        if not d:
            break
        # a line-oriented reader keeps complete lines only: the tail of a
        # record cut by the connection's end is not a record
        part += d
        cut = part.rfind(b"\n") + 1
        if cut:
            f.write(part[:cut])
            part = part[cut:]
    c.close()
PY

# settle NAME OUT: before a datagram reader is stopped, let it take what the
# run sent (log_records_written lines; up to 10 s on a loaded machine)
settle() {
    local want i
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"]["log_records_written"])' \
        "$WORK/$1.stats" 2>/dev/null || echo 0)
    for i in $(seq 100); do
        [ "$(wc -l <"$2" 2>/dev/null || echo 0)" -ge "$want" ] && return 0
        sleep 0.1
    done
}

start_reader() { # start_reader KIND PATH OUT -> $READER
    rm -f "$3.ready"
    python3 "$WORK/reader.py" "$1" "$2" "$3" &
    READER=$!
    for _ in $(seq 100); do [ -f "$3.ready" ] && return 0; sleep 0.05; done
    bad "reader did not start"
}

# run NAME [mos-lua args...]: mos-lua reads the paced FIFO; returns at once
# (MOS pid in $MOSPID, generator in $GENPID); finish NAME waits for both.
run() {
    local name=$1
    shift
    rm -f "$WORK/fifo"
    mkfifo "$WORK/fifo"
    timeout 60 "$MOS" -r "$WORK/fifo" --stats "$WORK/$name.stats" "$@" "$WORK/seq.lua" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    MOSPID=$!
    python3 "$WORK/gen.py" "$NCONN" "$WORK/fifo" "$SRC/tests/e2e/craft" &
    GENPID=$!
}
finish() {
    wait "$GENPID"
    wait "$MOSPID"
    local rc=$?
    [ "$rc" = 0 ] || bad "$1: mos-lua exit $rc: $(head -c 400 "$WORK/$1.err")"
}

# verify NAME RECEIVED-LINES-FILE [min-received]: the accounting above.
verify() {
    if python3 - "$WORK/$1.stats" "$2" "$NCONN" "${3:-1}" "$1" <<'PY'; then ok; else bad "$1"; fi
import json, re, sys
stats, got, nconn, least, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
c = json.load(open(stats))["counters"]
seqs = []
for line in open(got, errors="replace"):
    line = line.strip()
    if not line:
        continue
    m = re.search(r"\{.*\}$", line) # syslog lines carry a header first
    r = json.loads(m.group(0))
    assert "seq" in r, "unexpected record %s" % line
    seqs.append(r["seq"])
errs = []
if c["ev_conn_start"] != nconn:
    errs.append("processed %d connections of %d" % (c["ev_conn_start"], nconn))
if any(b <= a for a, b in zip(seqs, seqs[1:])):
    errs.append("records out of order or repeated")
# every record counted as written arrived; of those given up (dropped),
# some may have arrived too (read by the reader just before it died)
if not c["log_records_written"] <= len(seqs) <= c["log_records_written"] + c["log_records_dropped"]:
    errs.append("%d records arrived, log_records_written %d, dropped %d"
                % (len(seqs), c["log_records_written"], c["log_records_dropped"]))
if c["log_records_written"] + c["log_records_dropped"] != nconn:
    errs.append("written %d + dropped %d != %d logged" % (c["log_records_written"], c["log_records_dropped"], nconn))
if len(seqs) < least:
    errs.append("only %d records arrived" % len(seqs))
print("%s: %d arrived, %d dropped, %d reconnects%s" % (name, len(seqs), c["log_records_dropped"],
      c["log_reconnects"], "" if not errs else ": " + "; ".join(errs)))
sys.exit(1 if errs else 0)
PY
}

# --- unix-stream, reader killed and restarted mid-run
SOCK=$WORK/s.sock
start_reader stream "$SOCK" "$WORK/ustream.got"
run ustream -c log.output=unix-stream -c "log.socket=$SOCK"
sleep 1
kill -TERM "$READER"; wait "$READER"
sleep 0.5
start_reader stream "$SOCK" "$WORK/ustream.got"
finish ustream
kill -TERM "$READER"; wait "$READER"
verify ustream "$WORK/ustream.got" $((NCONN / 2))
grep -q "went away" "$WORK/ustream.err" || bad "ustream: the output's loss was not reported: $(head -c 300 "$WORK/ustream.err")"

# --- file, moved away and SIGHUP mid-run (the script reloads too: ids go on)
run file -c "log.file=$WORK/log.jsonl"
sleep 1
mv "$WORK/log.jsonl" "$WORK/log.jsonl.1"
kill -HUP "$MOSPID"
finish file
cat "$WORK/log.jsonl.1" "$WORK/log.jsonl" >"$WORK/file.got" 2>/dev/null
verify file "$WORK/file.got" "$NCONN"
[ -s "$WORK/log.jsonl" ] && [ -s "$WORK/log.jsonl.1" ] || bad "file: not reopened on SIGHUP"

# --- unix-dgram: the reader appears after the run started
DSOCK=$WORK/d.sock
run udgram -c log.output=unix-dgram -c "log.socket=$DSOCK"
sleep 0.7
start_reader dgram "$DSOCK" "$WORK/udgram.got"
finish udgram
settle udgram "$WORK/udgram.got"
kill -TERM "$READER"; wait "$READER"
verify udgram "$WORK/udgram.got" "$NCONN"

# --- syslog on a datagram socket
start_reader dgram "$DSOCK" "$WORK/syslog.got"
run syslog -c log.output=syslog -c "log.socket=$DSOCK"
finish syslog
settle syslog "$WORK/syslog.got"
kill -TERM "$READER"; wait "$READER"
verify syslog "$WORK/syslog.got" "$NCONN"
grep -Eq '^<14>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} mos-lua\[[0-9]+\]: \{' "$WORK/syslog.got" ||
    bad "syslog: no RFC 3164 header: $(head -c 200 "$WORK/syslog.got")"

# --- stderr
run stderr -c log.output=stderr
finish stderr
grep '"seq"' "$WORK/stderr.err" >"$WORK/stderr.got"
verify stderr "$WORK/stderr.got" "$NCONN"

# --- nobody reads, 64 KiB buffer: drops counted, packets all processed
run nobody -c log.output=unix-stream -c "log.socket=$WORK/none.sock" -c log.buffer=64K
finish nobody
: >"$WORK/nobody.got"
verify nobody "$WORK/nobody.got" 0

# --- redis list and stream, server killed (SIGKILL) and restarted mid-run
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "SKIP: redis-server or redis-cli absent: the redis output is not tested"
    skipped=1
else
    PORT=$((20000 + $$ % 20000))
    start_redis() {
        (cd "$WORK" && exec redis-server --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes \
            --appendfsync always --save "" --daemonize no >>"$WORK/redis.log" 2>&1) &
        REDIS=$!
        for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
        bad "redis-server did not start: $(tail -c 300 "$WORK/redis.log")"
    }
    for mode in list stream; do
        rm -rf "$WORK/appendonlydir" "$WORK"/*.aof
        start_redis
        run "redis_$mode" -c log.output=redis -c "log.redis=127.0.0.1:$PORT" -c "log.redis_key=k$mode" \
            -c "log.redis_mode=$mode"
        sleep 1
        kill -KILL "$REDIS"; wait "$REDIS" 2>/dev/null
        sleep 0.5
        start_redis
        finish "redis_$mode"
        if [ "$mode" = list ]; then
            redis-cli -p "$PORT" --raw LRANGE "k$mode" 0 -1 >"$WORK/redis_$mode.got"
        else
            redis-cli -p "$PORT" --raw XRANGE "k$mode" - + | grep '^{' >"$WORK/redis_$mode.got"
        fi
        redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1
        wait "$REDIS" 2>/dev/null
        verify "redis_$mode" "$WORK/redis_$mode.got" $((NCONN / 2))
    done
fi

echo "$pass passed, $fail failed${skipped:+, redis skipped=$skipped}"
[ "$fail" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
exit 0
