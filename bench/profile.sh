#!/usr/bin/env bash
# bench/profile.sh - where the time goes: perf profiles of the benchmark apps.
#
#   bench/profile.sh [WORKLOAD]      # default small; needs bench/run.sh to have
#                                    # built $MOS_BENCH_DIR/build and the capture
#
# Records (perf, cpu-clock sampling: this guest has no PMU counters) the
# minimal C tracker from ../shared/bench when present, count.lua with stream
# buffers off, search.lua, and the C-API search app on the same capture, and
# prints for each the share per shared object and the top symbols. LuaJIT's
# compiled traces show as "[JIT]" (no symbols); libluajit itself is the
# interpreter, the garbage collector and the string table.
set -u -o pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
D="${MOS_BENCH_DIR:-/tmp/mos-bench}"
WL="${1:-small}"
F="$D/$WL.pcap"
MOSLUA="${MOS_LUA:-$D/build/mos-lua}"
NEEDLE="MOSBENCH-NEEDLE-5e1d"
TOP="${TOP:-25}"
command -v perf >/dev/null || { echo "profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
[ -s "$F" ] || { echo "profile.sh: $F missing: run bench/run.sh $WL first" >&2; exit 2; }
[ -x "$MOSLUA" ] || { echo "profile.sh: $MOSLUA missing: run bench/run.sh first" >&2; exit 2; }
OUT="$D/profile"
mkdir -p "$OUT"

profile() { # profile NAME CMD...
    local name="$1"; shift
    echo "## $name"
    echo
    echo '```'
    echo "\$ $*"
    perf record -q -o "$OUT/$name.data" -- "$@" >"$OUT/$name.out" 2>&1 || { echo "(failed: see $OUT/$name.out)"; echo '```'; return; }
    echo "--- share per object"
    perf report -i "$OUT/$name.data" --no-children --stdio --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -8
    echo "--- top symbols"
    perf report -i "$OUT/$name.data" --no-children --stdio --sort dso,sym 2>/dev/null | grep -E '^ +[0-9]' | head -"$TOP"
    echo '```'
    echo
}

cat >"$OUT/c.conf" <<EOF
[core]
cores = 1
[io]
input = file:$F
EOF
if [ -x "$D/bin/flowtrack" ]; then
    profile flowtrack "$D/bin/flowtrack" -i pcapbuf "$F"
fi
profile count_nobuf "$MOSLUA" -q -r "$F" -c reassembly.client=false -c reassembly.server=false "$HERE/lua_apps/count.lua"
profile search "$MOSLUA" -q -r "$F" -s "needle=$NEEDLE" "$HERE/lua_apps/search.lua"
[ -x "$D/bin/c_search" ] && profile c_search "$D/bin/c_search" -f "$OUT/c.conf" -s "$NEEDLE"
profile search_ude64 "$MOSLUA" -q -r "$F" -s "needle=$NEEDLE" -s udes=64 "$HERE/lua_apps/search.lua"
