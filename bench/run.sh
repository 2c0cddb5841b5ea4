#!/usr/bin/env bash
# bench/run.sh - build, generate, check and time the mos-lua benchmark.
#
#   bench/run.sh [smoke|small|large|all] [--no-report]
#
# Everything big goes to $MOS_BENCH_DIR (default /tmp/mos-bench): the
# Release build of mos-lua (build/), the bench tools (bin/), the captures
# and their sidecar JSON, raw results (results/<workload>/). The Markdown
# report and plots land in bench/results/ of the repo (bench/report.py).
#
# Order per workload: a correctness pass (each tool once under
# /usr/bin/time: output, peak RSS; needle counts compared with the
# generator's sidecar), then hyperfine timings of every tool that passed,
# all in ONE hyperfine call so ratios compare the same conditions, then the
# UDE series, the core series and the buffers-on/off memory pair.
# A tool that cannot run (mos-lua not built yet, no C API, no ndpiReader)
# is recorded as "n/a"; the run fails only on a wrong answer.
#
# Knobs (environment): RUNS (default 5; 3 for large), WARMUP (1),
# MOS_BENCH_DIR, MOS_LUA (a prebuilt mos-lua binary), NO_BUILD=1,
# ONLY_APPS=1 (only the rows of the shipped apps, scripts/).
# ONLY_MATCH=1 (only the stream-matching rows; report.py --match writes
# bench/results/MATCH.md, RESULTS.md stays the last full run's).
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/.." && pwd)"
D="${MOS_BENCH_DIR:-/tmp/mos-bench}"
BIN="$D/bin"
BUILD="$D/build"
NEEDLE="MOSBENCH-NEEDLE-5e1d"
WARMUP="${WARMUP:-1}"
TARGET="${1:-smoke}"
DO_REPORT=1
[ "${2:-}" = "--no-report" ] && DO_REPORT=0
FAILED=0

mkdir -p "$BIN" "$D/results" "$D/logs"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- presets --
# name -> generator options. Sizes: small ~7.7 M packets / 3.2 GB; large cut
# at 3.5 GiB (10k x 1 MiB flows would need ~10 GB before any ended, hence
# the warm start). smoke* are the same shapes scaled down for quick checks.
preset_opts() {
    case "$1" in
    small)        echo "-s 11 -c 192000 -f 640000 -b 4096 -p 0.05" ;;
    large)        echo "-s 12 -c 10000 -f 100000000 -b 1M -w -B 3.5G -p 0.05" ;;
    smoke)        echo "-s 21 -c 300 -f 1000 -b 4096 -p 0.05" ;;
    smoke_large)  echo "-s 22 -c 100 -f 100000 -b 256K -w -B 48M -p 0.05" ;;
    smoke_messy)  echo "-s 23 -c 200 -f 2000 -b 16K -p 0.2 -r 0.01 -R 0.01 -6 0.1" ;;
    *) return 1 ;;
    esac
}

case "$TARGET" in
smoke) WORKLOADS="smoke smoke_large smoke_messy"; RUNS="${RUNS:-3}" ;;
small) WORKLOADS="small" ;;
large) WORKLOADS="large" ;;
all) WORKLOADS="smoke small large" ;;
*) echo "usage: bench/run.sh [smoke|small|large|all] [--no-report]" >&2; exit 2 ;;
esac
RUNS="${RUNS:-5}"

# ------------------------------------------------------------------ build --
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Werror"
# The shared minimal C flow tracker (../shared/bench/flowtrack.c, from which
# the issue's targets were derived) is built from where it lies, when it is
# there, as a reference row; it is not part of this repository.
SHARED_TRACKER="${MOS_SHARED_DIR:-$SRC/../shared}/bench/flowtrack.c"
build_tools() {
    log "building bench tools into $BIN"
    cc $CFLAGS "$HERE/gen_workload.c" -o "$BIN/gen_workload" || return 1
    cc $CFLAGS "$HERE/read_bound.c" -lpcap -o "$BIN/read_bound" || return 1
    cc $CFLAGS "$HERE/nids_search.c" -lnids -lpcap -o "$BIN/nids_search" || return 1
    rm -f "$BIN/flowtrack"
    if [ -f "$SHARED_TRACKER" ]; then
        cc -std=gnu11 -O2 "$SHARED_TRACKER" -lpcap -o "$BIN/flowtrack" 2>"$D/logs/flowtrack.log" ||
            log "the shared C tracker did not build: its row is n/a"
    else
        log "$SHARED_TRACKER not found: the C tracker row is n/a"
    fi
}

MOSLUA=""
build_moslua() {
    if [ -n "${MOS_LUA:-}" ]; then MOSLUA="$MOS_LUA"; return 0; fi
    log "building mos-lua (Release) in $BUILD"
    if cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$D/logs/cmake.log" 2>&1 &&
        cmake --build "$BUILD" -j"$(nproc)" --target mos-lua >>"$D/logs/cmake.log" 2>&1; then
        MOSLUA="$BUILD/mos-lua"
    else
        log "mos-lua did not build (see $D/logs/cmake.log): its rows are n/a"
    fi
    [ -x "$MOSLUA" ] || MOSLUA=""
}

HAVE_CAPI=0
build_capps() {
    rm -f "$BIN/c_count" "$BIN/c_search" "$BIN/c_match" # never time a stale build
    [ -f "$SRC/bindings/mtcp_api.h" ] || { log "bindings/mtcp_api.h missing: C-API rows are n/a"; return 0; }
    cmake --build "$BUILD" -j"$(nproc)" --target moslua >>"$D/logs/cmake.log" 2>&1 || {
        log "libmoslua did not build: C-API rows are n/a"; return 0; }
    local ok=1
    for app in count search match; do
        cc $CFLAGS -I"$SRC/bindings" -I"$SRC/core" "$HERE/c_apps/$app.c" -o "$BIN/c_$app" \
            -L"$BUILD" -Wl,-rpath,"$BUILD" -lmoslua -lpthread >>"$D/logs/capps.log" 2>&1 || ok=0
    done
    [ $ok = 1 ] && HAVE_CAPI=1 || log "C apps did not build (see $D/logs/capps.log): n/a"
}

if [ "${NO_BUILD:-0}" != 1 ] || [ ! -x "$BIN/gen_workload" ]; then
    build_tools || { log "bench tools failed to build"; exit 1; }
    build_moslua
    build_capps
else
    MOSLUA="${MOS_LUA:-$BUILD/mos-lua}"; [ -x "$MOSLUA" ] || MOSLUA=""
    [ -x "$BIN/c_count" ] && [ -x "$BIN/c_search" ] && [ -x "$BIN/c_match" ] && HAVE_CAPI=1
fi

# ----------------------------------------------------------------- inputs --
gen() { # gen NAME -> $D/NAME.pcap (+ .json), made once
    local name="$1" f="$D/$1.pcap"
    if [ -s "$f" ] && [ -s "$f.json" ]; then return 0; fi
    log "generating $name: $(preset_opts "$name")"
    # shellcheck disable=SC2046
    "$BIN/gen_workload" -o "$f" -n "$NEEDLE" $(preset_opts "$name") || return 1
}
side() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1.json" "$2"; }

# The mos-lua command line (host/main.c: mos-lua [options] SCRIPT [CONFIG];
# -r capture, -n cores, -c key=value config override, -s key=value script
# parameter) and the config file the C-API apps read through mtcp_init().
moslua_cmd() { # moslua_cmd PCAP CORES BUFFERS(true|false) SCRIPT [param=value...]
    local pcap="$1" cores="$2" buf="$3" script="$4" p out; shift 4
    out="$MOSLUA -q -r $pcap -n $cores"
    [ "$buf" = false ] && out="$out -c reassembly.client=false -c reassembly.server=false"
    for p in "$@"; do out="$out -s $p"; done
    echo "$out $script"
}
write_config() { # write_config FILE PCAP CORES BUFFERS(true|false)
    cat >"$1" <<EOF
[core]
cores = $3
[reassembly]
client = $4
server = $4
[io]
input = file:$2
EOF
}

# ---------------------------------------------------------------- helpers --
# check NAME KIND EXPECTED CMD: run once under /usr/bin/time, keep output and
# peak RSS; KIND says which output key to compare ("needles", "packets", or
# "-" for none). Appends to status.tsv: name, status, got, expected, rss KiB.
check() {
    local name="$1" kind="$2" want="$3" cmd="$4" out="$R/$1.out" t="$R/$1.time"
    if ! /usr/bin/time -f "%M %e %U %S" -o "$t" bash -c "$cmd" >"$out" 2>"$R/$name.err"; then
        local rc; rc=$(grep -o 'exited with non-zero status [0-9]*' "$t" | grep -o '[0-9]*$' || echo 1)
        printf '%s\tn/a\t-\t%s\t-\n' "$name" "$want" >>"$R/status.tsv"
        log "  $name: n/a (exit $rc, see $R/$name.err)"
        return 1
    fi
    local rss; rss=$(tail -n1 "$t" | cut -d' ' -f1)
    if [ "$kind" = "-" ]; then
        printf '%s\tok\t-\t-\t%s\n' "$name" "$rss" >>"$R/status.tsv"
        return 0
    fi
    # several cores print one line each: sum them
    local got; got=$(awk -v k="$kind" '$1 == k { s += $2; n++ } END { if (n) print s; else print "none" }' "$out")
    if [ "$got" = "$want" ]; then
        printf '%s\tok\t%s\t%s\t%s\n' "$name" "$got" "$want" "$rss" >>"$R/status.tsv"
        log "  $name: ok ($kind $got, peak RSS ${rss} KiB)"
        return 0
    fi
    printf '%s\tWRONG\t%s\t%s\t%s\n' "$name" "$got" "$want" "$rss" >>"$R/status.tsv"
    log "  $name: WRONG $kind: got $got, expected $want"
    FAILED=1
    return 1
}

# timed NAME CMD: queue for the next hyperfine call
declare -a HF_ARGS
hf_reset() { HF_ARGS=(); }
timed() { HF_ARGS+=(-n "$1" "$2"); printf '%s\t%s\n' "$1" "$2" >>"$R/commands.tsv"; }
hf_run() { # hf_run GROUP [runs]
    local group="$1" runs="${2:-$RUNS}"
    [ ${#HF_ARGS[@]} -gt 0 ] || { log "  $group: nothing to time"; return 0; }
    log "  hyperfine $group: $(( ${#HF_ARGS[@]} / 3 )) commands x $runs runs"
    hyperfine -N -w "$WARMUP" -r "$runs" --export-json "$R/$group.json" --style basic "${HF_ARGS[@]}" \
        >"$R/$group.hyperfine.txt" 2>&1 || { log "  hyperfine $group failed (see $R/$group.hyperfine.txt)"; }
    hf_reset
}

# tshark_verify PCAP: independent check of a (small) capture against its
# sidecar: every IPv4/TCP checksum verifies, and packets, flows (tcp.stream)
# and payload bytes per direction are what the generator says it wrote.
tshark_verify() {
    local f="$1" want got
    command -v tshark >/dev/null || { log "  tshark missing: capture not verified"; return 0; }
    want="$(side "$f" packets) $(side "$f" flows_started) $(side "$f" payload_c2s) \
$(( $(side "$f" payload_s2c) + $(side "$f" rexmit_bytes) )) 0"
    got=$(tshark -n -r "$f" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
            -T fields -e tcp.stream -e tcp.srcport -e tcp.len -e tcp.checksum.status -e ip.checksum.status \
            2>/dev/null | awk -F'\t' '
        { n++; fl[$1] = 1; if ($2 == 80) s2c += $3; else c2s += $3
          if ($4 != 1 || ($5 != "" && $5 != 1)) bad++ }
        END { printf "%d %d %d %d %d\n", n, length(fl), c2s, s2c, bad }')
    if [ "$got" = "$want" ]; then
        log "  tshark: ok (packets flows c2s s2c bad-checksums = $got)"
        printf 'tshark_verify\tok\t%s\t%s\t-\n' "${got// /,}" "${want// /,}" >>"$R/status.tsv"
    else
        log "  tshark: WRONG: got '$got', sidecar says '$want'"
        printf 'tshark_verify\tWRONG\t%s\t%s\t-\n' "${got// /,}" "${want// /,}" >>"$R/status.tsv"
        FAILED=1
    fi
}

# bench_apps PCAP FLOWS: the "apps" hyperfine group
bench_apps() {
    local F="$1" flows="$2" app want c p
    printf '198.18.0.0/16\n2001:db8:c::/64\n' >"$R/subscribers.txt" # the generator's clients
    for app in conn http tls midstat abacus; do
        case $app in conn|http|abacus) want=$flows ;; tls) want=0 ;; *) want=- ;; esac
        p=""
        [ $app = midstat ] && p="-s interval=1" # its tables go to stdout
        [ $app = abacus ] && p="-s subscribers=$R/subscribers.txt"
        c="$MOSLUA -r $F $p -c log.file=/dev/null $SRC/scripts/$app.lua"
        local logged="$MOSLUA -r $F $p -c log.file=$R/app_$app.jsonl $SRC/scripts/$app.lua"
        if [ "$want" = - ]; then
            check "app_$app" - - "$c"
        else
            check "app_$app" records "$want" "$logged; echo records \$(grep -c '\"_path\":\"[a-z]*\"' $R/app_$app.jsonl)"
        fi && timed "app_$app" "$c"
    done
    # the reference for the ratios: count.lua with buffers off, in the same hyperfine call
    timed apps_ref_count "$(moslua_cmd "$F" 1 false "$HERE/lua_apps/count.lua")"
    hf_run apps "$RUNS"
}

# -------------------------------------------------------------- workloads --
# Stream matching with mos.matcher (lua_apps/match.lua) and the same app on
# the C API (c_apps/match.c): one needle, and 1,000 patterns (999 random
# 12-byte literals + the planted needle as id 1), timed in one hyperfine
# call with libnids (one needle) and search.lua for the ratios.
make_patterns() { # make_patterns FILE: deterministic (seeded) pattern file
    python3 - "$1" "$NEEDLE" <<'PY'
import random, string, sys
rnd = random.Random(1000)
alpha = string.ascii_letters + string.digits
with open(sys.argv[1], "w") as f:
    f.write("# bench/run.sh: the planted needle (id 1) + 999 random 12-byte literals\n")
    f.write(f"lit:1 {sys.argv[2]}\n")
    for i in range(2, 1001):
        f.write(f"lit:{i} {''.join(rnd.choice(alpha) for _ in range(12))}\n")
PY
}
bench_match() {
    local wl="$1" F="$2" needles v4needles c runs="$RUNS" nstreams
    needles=$(side "$F" needles); v4needles=$(side "$F" needles_v4)
    case "$wl" in large) runs="${RUNS_LARGE:-3}" ;; esac
    nstreams=$(( $(side "$F" concurrency) * 2 + 1024 ))
    make_patterns "$R/patterns1k.txt"
    hf_reset
    if [ -n "$MOSLUA" ]; then
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/match.lua" "needle=$NEEDLE")
        check lua_match needles "$needles" "$c" && timed lua_match "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/match.lua" "patterns=$R/patterns1k.txt")
        check lua_match1k needles "$needles" "$c" && timed lua_match1k "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/search.lua" "needle=$NEEDLE")
        check m_lua_search needles "$needles" "$c" && timed m_lua_search "$c"
    fi
    if [ $HAVE_CAPI = 1 ]; then
        write_config "$R/mosc.conf" "$F" 1 true
        c="$BIN/c_match -f $R/mosc.conf -s $NEEDLE"
        check c_match needles "$needles" "$c" && timed c_match "$c"
        c="$BIN/c_match -f $R/mosc.conf -p $R/patterns1k.txt"
        check c_match1k needles "$needles" "$c" && timed c_match1k "$c"
    fi
    c="$BIN/nids_search -n $nstreams -s $NEEDLE $F"
    check m_libnids needles "$v4needles" "$c" && timed m_libnids "$c"
    hf_run match "$runs"
}

bench_workload() {
    local wl="$1" F="$D/$1.pcap"
    R="$D/results/$wl"
    rm -rf "$R"; mkdir -p "$R"
    gen "$wl" || { log "generating $wl failed"; FAILED=1; return; }
    cp "$F.json" "$R/sidecar.json"
    local needles v4needles packets flows runs="$RUNS"
    needles=$(side "$F" needles); v4needles=$(side "$F" needles_v4)
    packets=$(side "$F" packets); flows=$(side "$F" flows_started)
    case "$wl" in large) runs="${RUNS_LARGE:-3}" ;; esac
    # enough libnids stream slots for the concurrency (it refuses new flows past it)
    local nstreams; nstreams=$(( $(side "$F" concurrency) * 2 + 1024 ))
    log "workload $wl: $packets packets, $flows flows, $needles needles ($v4needles IPv4)"

    # --- correctness pass (also peak RSS) ---
    : >"$R/status.tsv"; : >"$R/commands.tsv"
    if [ "${ONLY_APPS:-0}" = 1 ]; then # bench/run.sh small with ONLY_APPS=1: just the apps rows
        [ -n "$MOSLUA" ] && bench_apps "$F" "$flows"
        return
    fi
    if [ "${ONLY_MATCH:-0}" = 1 ]; then bench_match "$wl" "$F"; return; fi
    # tshark keeps ~1-2 KB per packet: only the smoke captures are checked by it
    case "$wl" in smoke*) tshark_verify "$F" ;; esac
    hf_reset
    local mode
    for mode in pcap pcapbuf read mmap; do
        local c="$BIN/read_bound $mode $F"
        check "bound_$mode" - - "$c" && timed "bound_$mode" "$c"
        # all readers must see every packet
        [ -s "$R/bound_$mode.out" ] && [ "$(cut -d' ' -f1 "$R/bound_$mode.out")" != "$packets" ] &&
            { log "  bound_$mode: WRONG packet count"; FAILED=1; }
    done
    local c
    if [ -x "$BIN/flowtrack" ]; then
        c="$BIN/flowtrack -i pcapbuf $F"
        check ref_flowtrack - - "$c" && timed ref_flowtrack "$c"
    fi
    # Counting needs no stream buffers: it runs with reassembly buffering off
    # (config), as a counting middlebox is deployed; the buffers-on run of the
    # same script is kept as an informational row.
    if [ -n "$MOSLUA" ]; then
        c=$(moslua_cmd "$F" 1 false "$HERE/lua_apps/count.lua")
        # its untimed run also gives the buffers-off memory figures (--stats: flows_peak)
        check lua_count_nobuf packets "$packets" "${c/ -q / -q --stats $R/lua_count_nobuf.stats.json }" &&
            timed lua_count_nobuf "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/count.lua")
        check lua_count packets "$packets" "$c" && timed lua_count "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/count_ctx.lua")
        check lua_count_ctx packets "$packets" "$c" && timed lua_count_ctx "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/search.lua" "needle=$NEEDLE")
        check lua_search needles "$needles" "$c" && timed lua_search "$c"
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/search_str.lua" "needle=$NEEDLE")
        check lua_search_str needles "$needles" "$c" && timed lua_search_str "$c"
    else
        printf 'lua_count\tn/a\t-\t%s\t-\nlua_search\tn/a\t-\t%s\t-\n' "$packets" "$needles" >>"$R/status.tsv"
    fi
    if [ $HAVE_CAPI = 1 ]; then
        write_config "$R/mosc.conf" "$F" 1 true
        write_config "$R/mosc_nobuf.conf" "$F" 1 false
        c="$BIN/c_count -f $R/mosc_nobuf.conf"
        check c_count_nobuf packets "$packets" "$c" && timed c_count_nobuf "$c"
        c="$BIN/c_count -f $R/mosc.conf"
        check c_count packets "$packets" "$c" && timed c_count "$c"
        c="$BIN/c_search -f $R/mosc.conf -s $NEEDLE"
        check c_search needles "$needles" "$c" && timed c_search "$c"
    else
        printf 'c_count\tn/a\t-\t%s\t-\nc_search\tn/a\t-\t%s\t-\n' "$packets" "$needles" >>"$R/status.tsv"
    fi
    c="$BIN/nids_search -n $nstreams -s $NEEDLE $F"
    check libnids needles "$v4needles" "$c" && timed libnids "$c"
    if command -v tcpflow >/dev/null; then
        mkdir -p "$R/tcpflow"
        c="tcpflow -r $F -o $R/tcpflow -FX"
        check tcpflow_FX - - "$c" && timed tcpflow_FX "$c"
    fi
    if command -v ndpiReader >/dev/null; then
        c="ndpiReader -i $F -q"
        check ndpiReader - - "$c" && timed ndpiReader "$c"
    else
        printf 'ndpiReader\tn/a\t-\t-\t-\n' >>"$R/status.tsv"
    fi
    hf_run main "$runs"
    bench_match "$wl" "$F"

    [ -n "$MOSLUA" ] || { log "  mos-lua not built: apps, UDE, core and memory series are n/a"; return; }

    # --- the shipped apps (scripts/), one row each: records logged to a
    # file in the untimed run (answer: conn and http one record per flow,
    # tls none: the workload has no TLS), to /dev/null when timed ---
    bench_apps "$F" "$flows"
    [ "${ONLY_APPS:-0}" = 1 ] && return

    # --- event scaling: 4 / 16 / 64 UDEs on the search app ---
    local n
    for n in 4 16 64; do
        c=$(moslua_cmd "$F" 1 true "$HERE/lua_apps/search.lua" "needle=$NEEDLE" "udes=$n")
        check "lua_search_ude$n" needles "$needles" "$c" && timed "lua_search_ude$n" "$c"
    done
    hf_run ude "$runs"

    # --- core scaling: -n 1 vs -n 2 ---
    local app
    for app in count search; do
        local key=packets want=$packets buf=false
        [ $app = search ] && { key=needles; want=$needles; buf=true; }
        for n in 1 2; do
            c=$(moslua_cmd "$F" $n $buf "$HERE/lua_apps/$app.lua" "needle=$NEEDLE")
            check "lua_${app}_cores$n" $key "$want" "$c" && timed "lua_${app}_cores$n" "$c"
        done
    done
    hf_run cores "$runs"

    # --- memory per tracked flow: buffers on / off (peak RSS of the count
    # app's untimed runs above: lua_count, lua_count_nobuf). The baseline is
    # the same app on the 1000-flow smoke capture: report.py divides the
    # difference by the workload's concurrency, and by the flows actually
    # tracked at the peak (lua_count_nobuf's --stats).
    if gen smoke; then
        check lua_count_base - - "$(moslua_cmd "$D/smoke.pcap" 1 true "$HERE/lua_apps/count.lua")"
        check lua_count_nobuf_base - - "$(moslua_cmd "$D/smoke.pcap" 1 false "$HERE/lua_apps/count.lua")"
    fi
}

for wl in $WORKLOADS; do
    bench_workload "$wl"
done

# ------------------------------------------------------------- machine ---
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "kernel: $(uname -srm)"
    echo "git: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "runs: $RUNS (large: ${RUNS_LARGE:-3}), warmup: $WARMUP"
    echo "mos-lua: ${MOSLUA:-not built}"
    echo "--- lscpu"
    lscpu 2>/dev/null
    echo "--- memory"
    free -m 2>/dev/null
    echo "--- load"
    cat /proc/loadavg
} >"$D/results/machine.txt"

if [ $DO_REPORT = 1 ]; then
    rep=""; [ "${ONLY_APPS:-0}" = 1 ] && rep="--apps" # APPS.md: RESULTS.md stays the last full run's
    [ "${ONLY_MATCH:-0}" = 1 ] && rep="--match"          # MATCH.md, likewise
    python3 "$HERE/report.py" $rep "$D/results" "$HERE/results" $WORKLOADS || { log "report failed"; FAILED=1; }
fi
[ $FAILED = 0 ] && log "done: all answers correct (n/a rows excepted)" || log "done: SOME ANSWERS WRONG (see status.tsv)"
exit $FAILED
