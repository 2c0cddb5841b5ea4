#!/usr/bin/env bash
# bench/inline_bench.sh - inline forwarding on DPDK vdevs: mos-lua with the
# packet-counting script vs dpdk-testpmd io forwarding, same vdevs, same
# capture, same run.
#
#   bench/inline_bench.sh            # ~2-3 min; table on stdout and in bench/results/inline.md
#
# Setup (no NIC, no hugepages): two net_pcap ports. Port 0 replays the
# capture (rx_pcap) and port 1 writes what is forwarded to it (tx_pcap,
# /dev/null when timed). testpmd forwards port 0 -> port 1 in io mode on one
# forwarding lcore; mos-lua bridges the same two ports as an inline pair
# (io.inline_pair = dpdk:net_pcap0,dpdk:net_pcap1) and runs
# bench/lua_apps/count.lua on every packet (flow tracking, default
# reassembly buffers on).
#
# Timing: the pcap PMD never signals the end of its file (rx just returns 0)
# and neither tool exits on its own, so both are polled every POLL_MS from
# outside with the same driver: testpmd gets "show port stats 1" on its
# command line (interactive, answered by its main lcore), mos-lua gets
# SIGUSR1 and rewrites its --stats file (pkts_forwarded). Each poll is
# stamped at the middle of request and answer. Rate = (N - c_a) / (t_b - t_a),
# a = the first poll that saw a forwarded packet, b = the first poll that saw
# all N: the wall time of the processing, start-up (EAL init, Lua load) and
# teardown excluded, with at most one poll interval of error at the end.
# testpmd runs with --no-flush-rx: without it, "start" first drains the rx
# queues for up to 1 s, which on net_pcap silently discards ~10% of the file.
#
# Workloads (bench/gen_workload.c, cut after PACKETS packets): `small`
# (bench/run.sh's preset: 192k concurrent 4 KiB flows, ~400-byte frames) and
# `large` (10k concurrent 1 MiB flows, ~1000-byte frames). count.lua also
# runs with the reassembly buffers off (a counter needs no stream bytes).
#
# 2 workers (-n 2): net_pcap has no RSS, so mos-lua's distributor thread
# reads the ports and hands flows to the workers (host/io_setup.c); timed
# the same way, except that a run ends when forwarded + pkts_dropped_io
# reach N (the distributor drops when a worker's ring stays full; the
# drops are listed under the table), so its rate counts handled packets.
#
# Knobs: RUNS (3; median reported), PACKETS (2000000 per generated capture),
# WORKLOADS ("small large"), CAPTURE (one pcap of your own instead), POLL_MS (10), MOS_LUA (a
# prebuilt mos-lua; default: Release build in $MOS_BENCH_DIR/build-inline),
# MOS_BENCH_DIR (/tmp/mos-bench), RING_SECONDS (1: net_ring reference).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/.." && pwd)"
D="${MOS_BENCH_DIR:-/tmp/mos-bench}"
W="$D/inline"
RUNS="${RUNS:-3}"
PACKETS="${PACKETS:-2000000}"
POLL_MS="${POLL_MS:-10}"
RING_SECONDS="${RING_SECONDS:-1}"
OUT_MD="$HERE/results/inline.md"
EAL_COMMON="--no-huge -m 1024 --no-pci -l 0-1 --no-shconf --log-level=*:error"

mkdir -p "$W" "$D/bin" "$HERE/results"
log() { printf '[inline %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not found (Debian package dpdk)"
command -v stdbuf >/dev/null || die "stdbuf not found (coreutils)"

# ------------------------------------------------------------------ build --
MOSLUA="${MOS_LUA:-}"
if [ -z "$MOSLUA" ]; then
    B="$D/build-inline"
    log "building mos-lua (Release) in $B"
    cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release >"$W/cmake.log" 2>&1 &&
        cmake --build "$B" -j"$(nproc)" --target mos-lua moslua >>"$W/cmake.log" 2>&1 ||
        die "mos-lua did not build (see $W/cmake.log)"
    MOSLUA="$B/mos-lua"
fi
[ -x "$MOSLUA" ] || die "$MOSLUA is not executable"
case "$(ldd "$MOSLUA")" in # not `ldd | grep -q`: SIGPIPE + pipefail
*librte_ethdev*) ;;
*) die "$MOSLUA was built without libdpdk" ;;
esac

# --------------------------------------------------------------- capture --
wl_opts() {
    case "$1" in
    small) echo "-s 11 -c 192000 -f 640000 -b 4096 -p 0.05" ;;
    large) echo "-s 12 -c 10000 -f 100000000 -b 1M -w -p 0.05" ;;
    *) return 1 ;;
    esac
}
capture_of() { # capture_of WORKLOAD -> path (generated once)
    if [ -n "${CAPTURE:-}" ]; then echo "$CAPTURE"; return; fi
    local f="$D/inline_$1_${PACKETS}.pcap"
    if [ ! -s "$f" ]; then
        [ -x "$D/bin/gen_workload" ] ||
            cc -std=gnu11 -O2 -Wall -Wextra "$HERE/gen_workload.c" -o "$D/bin/gen_workload" ||
            die "gen_workload did not build"
        log "generating $f"
        # shellcheck disable=SC2046
        "$D/bin/gen_workload" -o "$f" $(wl_opts "$1") -P "$PACKETS" >"$W/gen_$1.log" 2>&1 ||
            die "gen_workload failed (see $W/gen_$1.log)"
    fi
    echo "$f"
}
WORKLOADS="${WORKLOADS:-small large}"
[ -n "${CAPTURE:-}" ] && WORKLOADS="custom"
EMPTY="$W/empty.pcap" # port 1's rx: a pcap with no packets
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$EMPTY"

# ---------------------------------------------------------------- driver --
DRV="$W/poll.py"
cat >"$DRV" <<'PY'
# poll.py MODE N POLL_S OUTJSON -- CMD...: run CMD, poll its forwarded-packet
# count, print/write {"samples": [[t, count]...], "rate": pps, ...}.
# MODE: testpmd (stop at N), testpmd_loop (stop after N seconds), moslua:STATS.
import json, os, queue, re, signal, subprocess, sys, threading, time

mode, n, poll, outp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
cmd = sys.argv[sys.argv.index("--") + 1:]
samples, res = [], {"mode": mode, "cmd": cmd}

def rate_of(samples, n, loop):
    prog = [s for s in samples if s[1] > 0]
    if len(prog) < 2:
        return None, None
    a = prog[0]
    b = prog[-1] if loop else next((s for s in prog if s[1] >= n), None)
    if b is None or b[0] <= a[0]:
        return None, None
    return (b[1] - a[1]) / (b[0] - a[0]), b[0] - a[0]

def poll_loop(ask, loop):
    t_end = time.monotonic() + n if loop else None
    last_c, last_change = -1, time.monotonic()
    while True:
        t0 = time.monotonic()
        c = ask()
        t1 = time.monotonic()
        samples.append(((t0 + t1) / 2, c))
        if c != last_c:
            last_c, last_change = c, t1
        if not loop and c >= n:
            return "done"
        if loop and t1 >= t_end:
            return "done"
        if not loop and c > 0 and t1 - last_change > 3:
            return "stalled at %d of %d" % (c, n)
        if not loop and c == 0 and t1 - last_change > 30:
            return "nothing forwarded in 30 s"
        time.sleep(max(0.0, poll - (time.monotonic() - t0)))

if mode.startswith("testpmd"):
    loop = mode == "testpmd_loop"
    p = subprocess.Popen(["stdbuf", "-oL"] + cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    answers, log = queue.Queue(), []
    def reader():
        in_stats = False
        for line in p.stdout:
            log.append(line)
            if "NIC statistics for port" in line:
                in_stats = True
            m = re.search(r"TX-packets:\s+(\d+)", line)
            if in_stats and m:
                answers.put(int(m.group(1)))
                in_stats = False
        answers.put(None)
    threading.Thread(target=reader, daemon=True).start()
    def ask(timeout=5):
        p.stdin.write("show port stats 1\n")
        p.stdin.flush()
        v = answers.get(timeout=timeout)
        if v is None:
            raise RuntimeError("testpmd exited")
        return v
    try:
        ask(timeout=60)  # EAL up, ports started
        p.stdin.write("start tx_first\n" if loop else "start\n")
        p.stdin.flush()
        res["end"] = poll_loop(ask, loop)
        p.stdin.write("stop\nquit\n")
        p.stdin.flush()
    except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
        res["end"] = "error: %s" % e
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    res["rc"] = p.returncode
    time.sleep(0.1)
    with open(outp + ".log", "w") as f:
        f.writelines(log)
else:
    loop = False
    stats = mode.split(":", 1)[1]
    if os.path.exists(stats):
        os.unlink(stats)
    logf = open(outp + ".log", "w")
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    def ready():  # SIGUSR1 before the handler is installed would kill it
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (signal.SIGUSR1 - 1))
        return 0
    def ident():  # with -n 2 both workers dump: the inode alone can flip back
        st = os.stat(stats)
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    def ask(timeout=5):
        try:
            old = ident()
        except FileNotFoundError:
            old = None
        p.send_signal(signal.SIGUSR1)
        t_lim = time.monotonic() + timeout
        while time.monotonic() < t_lim:
            try:
                if ident() != old:
                    with open(stats) as f:
                        c = json.load(f)["counters"]
                    # frames a full distributor ring dropped (-n 2) are
                    # handled too: the run is over when all N are accounted
                    return c["pkts_forwarded"] + c["pkts_dropped_io"]
            except (FileNotFoundError, ValueError, KeyError):
                pass
            if p.poll() is not None:
                raise RuntimeError("mos-lua exited with %d" % p.returncode)
            time.sleep(0.0002)
        raise RuntimeError("no stats dump within %g s" % timeout)
    try:
        t_lim = time.monotonic() + 60
        while not ready():
            if p.poll() is not None or time.monotonic() > t_lim:
                raise RuntimeError("mos-lua exited or never got ready (rc %s)" % p.poll())
            time.sleep(0.005)
        ask(timeout=30)  # first dump: the loop runs
        res["end"] = poll_loop(ask, False)
    except Exception as e:  # noqa: BLE001
        res["end"] = "error: %s" % e
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    res["rc"] = p.returncode
    logf.close()
    try:
        with open(stats) as f:
            c = json.load(f)["counters"]
        res["final"] = {k: c[k] for k in ("pkts_in", "pkts_forwarded", "pkts_dropped_io",
                                          "pkts_dropped_handler", "flows_created")}
    except (OSError, ValueError, KeyError):
        res["final"] = None
rate, span = rate_of(samples, n, loop) if str(res.get("end")) == "done" else (None, None)
res.update(samples=samples, rate=rate, span=span, polls=len(samples))
with open(outp, "w") as f:
    json.dump(res, f)
print("%s %s" % ("%.0f" % rate if rate else "n/a", res["end"]))
PY

count_pcap() { # packets in a capture, counted by neither tool under test
    if command -v capinfos >/dev/null; then
        capinfos -c -M "$1" | awk -F: '/Number of packets/ { gsub(/ /, "", $2); print $2 }'
        return
    fi
    python3 - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    magic = f.read(24)[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    n = 0
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        f.seek(struct.unpack(end + "IIII", h)[2], 1)
        n += 1
print(n)
PY
}

POLL_S=$(python3 -c "print($POLL_MS / 1000)")
log "mos-lua $MOSLUA; workloads: $WORKLOADS; $RUNS runs each, poll ${POLL_MS} ms"

pcap_vdevs() { # pcap_vdevs PREFIX TX1 -> EAL args (port 0: capture in; port 1: out)
    echo "$EAL_COMMON --file-prefix=$1 --vdev=net_pcap0,rx_pcap=$CAP,tx_pcap=/dev/null --vdev=net_pcap1,rx_pcap=$EMPTY,tx_pcap=$2"
}
mos_conf() { # mos_conf FILE PREFIX TX1
    cat >"$1" <<EOF
[io]
inline_pair = dpdk:net_pcap0,dpdk:net_pcap1
dpdk_eal = $(pcap_vdevs "$2" "$3")
EOF
}
NOBUF="-c reassembly.client=false -c reassembly.server=false"
FAILED=0

# bench_workload NAME: timed runs, the 2-worker attempt and the correctness
# run on one capture; everything lands in $W/runs/NAME/.
bench_workload() {
    local wl="$1" R="$W/runs/$1" i r
    CAP=$(capture_of "$wl") || return 1
    [ -r "$CAP" ] || die "capture $CAP unreadable"
    cat "$CAP" >/dev/null # page cache
    N=$(count_pcap "$CAP")
    log "$wl: $CAP, $N packets"
    rm -rf "$R"
    mkdir -p "$R"
    echo "$CAP $N" >"$R/capture.txt"
    TESTPMD_CMD="dpdk-testpmd $(pcap_vdevs ib$$tp /dev/null) -- -i --forward-mode=io --no-flush-rx"
    mos_conf "$R/mos.conf" "ib$$ml" /dev/null
    mos_conf "$R/mos2.conf" "ib$$m2" /dev/null
    MOS_CMD="$MOSLUA -q -n 1 --stats $R/stats.json $HERE/lua_apps/count.lua $R/mos.conf"
    printf '%s\n' "$TESTPMD_CMD" >"$R/cmd_testpmd.txt"
    printf '%s\n' "$MOS_CMD" >"$R/cmd_moslua.txt"
    for i in $(seq 1 "$RUNS"); do # interleaved, so drift hits all alike
        # shellcheck disable=SC2086
        r=$(python3 "$DRV" testpmd "$N" "$POLL_S" "$R/testpmd_$i.json" -- $TESTPMD_CMD)
        log "$wl run $i testpmd io: $r"
        # shellcheck disable=SC2086
        r=$(python3 "$DRV" "moslua:$R/stats.json" "$N" "$POLL_S" "$R/moslua_$i.json" -- $MOS_CMD)
        log "$wl run $i mos-lua count.lua: $r"
        # shellcheck disable=SC2086
        r=$(python3 "$DRV" "moslua:$R/stats.json" "$N" "$POLL_S" "$R/mosnobuf_$i.json" -- \
            $MOSLUA -q -n 1 $NOBUF --stats "$R/stats.json" "$HERE/lua_apps/count.lua" "$R/mos.conf")
        log "$wl run $i mos-lua count.lua, buffers off: $r"
        # 2 workers: net_pcap has one queue and no RSS, so a distributor
        # thread reads the ports and spreads flows over the workers, and
        # sends what they forward (host/io_setup.c)
        # shellcheck disable=SC2086
        r=$(python3 "$DRV" "moslua:$R/stats.json" "$N" "$POLL_S" "$R/mos2w_$i.json" -- \
            $MOSLUA -q -n 2 --stats "$R/stats.json" "$HERE/lua_apps/count.lua" "$R/mos2.conf")
        log "$wl run $i mos-lua count.lua, 2 workers: $r"
    done

    # correctness: one untimed run writing port 1 to a pcap
    mos_conf "$R/mosv.conf" "ib$$mv" "$R/out.pcap"
    r=$(python3 "$DRV" "moslua:$R/statsv.json" "$N" "$POLL_S" "$R/moslua_verify.json" -- \
        "$MOSLUA" -q -n 1 --stats "$R/statsv.json" "$HERE/lua_apps/count.lua" "$R/mosv.conf")
    local outn luan v
    outn=$(count_pcap "$R/out.pcap" 2>/dev/null || echo 0)
    luan=$(awk '$1 == "packets" { print $2 }' "$R/moslua_verify.json.log")
    rm -f "$R/out.pcap"
    v="port 1's tx_pcap has ${outn:-0} packets, the input $N, count.lua counted ${luan:-nothing}"
    if [ "$outn" = "$N" ] && [ "${luan:-}" = "$N" ]; then v="ok: $v"; else v="WRONG: $v"; FAILED=1; fi
    echo "$v" >"$R/verify.txt"
    log "$wl: $v"
}

DRV="$W/poll.py"
rm -rf "$W/runs"
for wl in $WORKLOADS; do
    bench_workload "$wl" || die "$wl failed"
done

# net_ring reference: testpmd --tx-first circles 64 mbufs per port through
# the two rings; nothing can feed mos-lua's rings (no generator), so n/a.
RING_CMD="dpdk-testpmd $EAL_COMMON --file-prefix=ib$$rg --vdev=net_ring0 --vdev=net_ring1 -- -i --forward-mode=io --no-flush-rx"
# shellcheck disable=SC2086
r=$(python3 "$DRV" testpmd_loop "$RING_SECONDS" "$POLL_S" "$W/runs/ring.json" -- $RING_CMD)
printf '%s\n' "$RING_CMD" >"$W/runs/cmd_ring.txt"
log "testpmd net_ring io --tx-first: $r"

# ------------------------------------------------------------------ table --
python3 - "$W/runs" "$OUT_MD" "$POLL_MS" "$WORKLOADS" <<'PY'
import glob, json, os, statistics, subprocess, sys, time
R, out_md, poll_ms, wls = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
def runs(d, pat):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, pat)))]
def med(rs):
    v = [r["rate"] for r in rs if r.get("rate")]
    return (statistics.median(v) if rs and len(v) == len(rs) else None), v
def mpps(x):
    return "%.2f" % (x / 1e6) if x else "n/a"
def each(v):
    return ", ".join("%.2f" % (x / 1e6) for x in v) or "-"
def rd(d, f):
    return open(os.path.join(d, f)).read().strip()
load = open("/proc/loadavg").read().split()[:3]
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
L = ["# Inline forwarding on DPDK vdevs: mos-lua vs dpdk-testpmd", "",
     "Generated by `bench/inline_bench.sh` on %s (%s, %d CPUs, load average %s at the end)." % (
         time.strftime("%Y-%m-%d %H:%M"), cpu or "?", os.cpu_count(), " ".join(load)),
     "Vdevs: `net_pcap0` replays the capture (rx), forwarded packets leave by `net_pcap1` (tx to /dev/null).",
     "Rate = packets / wall time of the processing (first poll that saw a forwarded packet to the",
     "first that saw all), polls every %s ms; median of interleaved runs, each run in the last column." % poll_ms,
     "mos-lua runs `bench/lua_apps/count.lua` (per-flow counter on every packet, flow tracking) with the default config", "",
     "| workload | case | workers | median Mpps | ratio to testpmd io (goal >= 0.50) | runs (Mpps) |",
     "|---|---|---|---|---|---|"]
notes, cmds = [], []
for wl in wls:
    d = os.path.join(R, wl)
    cap, n = rd(d, "capture.txt").split()
    tp, tpv = med(runs(d, "testpmd_[0-9]*.json"))
    name = "%s (%s pkts)" % (wl, n)
    L.append("| %s | dpdk-testpmd io, net_pcap0 -> net_pcap1 | 1 fwd lcore | %s | 1 | %s |" % (name, mpps(tp), each(tpv)))
    for pat, what in (("moslua_[0-9]*.json", "mos-lua inline, count.lua"),
                      ("mosnobuf_[0-9]*.json", "mos-lua inline, count.lua, reassembly buffers off")):
        m, mv = med(runs(d, pat))
        ratio = "**%.2f**" % (m / tp) if m and tp else "n/a"
        L.append("| %s | %s | 1 | %s | %s | %s |" % (name, what, mpps(m), ratio, each(mv)))
        fin = [r.get("final") or {} for r in runs(d, pat)]
        notes.append("%s, %s: pkts_forwarded %s, pkts_dropped_io %s at exit" % (
            wl, what, "/".join(str(f.get("pkts_forwarded")) for f in fin),
            "/".join(str(f.get("pkts_dropped_io")) for f in fin)))
    m, mv = med(runs(d, "mos2w_[0-9]*.json"))
    ratio = "**%.2f**" % (m / tp) if m and tp else "n/a"
    L.append("| %s | mos-lua inline, count.lua, software distribution (1 queue) | 2 | %s | %s | %s |" % (
        name, mpps(m), ratio, each(mv)))
    fin = [r.get("final") or {} for r in runs(d, "mos2w_[0-9]*.json")]
    notes.append("%s, 2 workers: pkts_forwarded %s, pkts_dropped_io %s at exit; ends: %s" % (
        wl, "/".join(str(f.get("pkts_forwarded")) for f in fin),
        "/".join(str(f.get("pkts_dropped_io")) for f in fin),
        "/".join(str(r.get("end")) for r in runs(d, "mos2w_[0-9]*.json"))))
    notes.append("%s correctness (untimed run, port 1 tx_pcap to a file): %s" % (wl, rd(d, "verify.txt")))
    cmds += ["# %s: %s" % (wl, cap), rd(d, "cmd_testpmd.txt") + "   # stdin: start, 'show port stats 1' per poll, stop, quit",
             rd(d, "cmd_moslua.txt") + "   # SIGUSR1 per poll, SIGINT at the end"]
    cmds += ["#   " + l for l in rd(d, "mos.conf").splitlines()]
ring = runs(R, "ring.json")
rr = ring[0].get("rate") if ring else None
L.append("| - | dpdk-testpmd io `--tx-first`, net_ring0 + net_ring1 (64 mbufs circling) | 1 fwd lcore | %s | loop overhead only | port 1 tx over %.2f s |" % (
    mpps(rr), (ring[0].get("span") or 0) if ring else 0))
L.append("| - | mos-lua inline, net_ring0 + net_ring1 | 1 | n/a | n/a | nothing can put packets into the rings (no generator; mos-lua has no tx-first) |")
L += [""] + ["* " + x for x in notes] + ["", "Commands (the EAL --file-prefix differs per run):", "", "```"] + cmds
if os.path.exists(os.path.join(R, "cmd_ring.txt")):
    L.append(rd(R, "cmd_ring.txt") + "   # stdin: start tx_first")
L.append("```")
text = "\n".join(L) + "\n"
open(out_md, "w").write(text)
sys.stdout.write(text)
PY
exit "$FAILED"
