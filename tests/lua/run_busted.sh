#!/bin/bash
# Runs the busted specs of the Lua host (tests/lua/*_spec.lua) against the
# built mos-lua. Exit 77 (skipped) when busted or the binary is missing, and
# also when nothing failed but some specs could not run (busted "pending":
# corpus capture or tshark absent), after naming them.
set -u
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
export MOS_SOURCE_DIR=$SRC MOS_BUILD_DIR=$BUILD MOS_SHARED_DIR=${MOS_SHARED_DIR:-$SRC/../shared}
BUSTED=$(command -v busted || true)
if [ -z "$BUSTED" ] || ! command -v luajit >/dev/null; then
    echo "run_busted.sh: busted (lua-busted) or luajit not installed: skipping" >&2
    exit 77
fi
if [ ! -x "$BUILD/mos-lua" ]; then
    echo "run_busted.sh: $BUILD/mos-lua not built: skipping" >&2
    exit 77
fi
cd "$SRC"
log=$(mktemp /tmp/mos-busted.XXXXXX)
trap 'rm -f "$log"' EXIT
luajit "$BUSTED" --lpath="$SRC/lua/?.lua;$SRC/lua/?/init.lua" "$@" tests/lua | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && exit "$rc"
pending=$(grep -Eo '[0-9]+ pending' "$log" | tail -1 | cut -d' ' -f1)
if [ "${pending:-0}" -gt 0 ]; then
    echo "SKIP: $pending spec(s) could not run (pending, listed above)"
    exit 77
fi
exit 0
