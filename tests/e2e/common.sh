# common.sh - sourced by the flowdump-based end-to-end tests: locate the
# source, build and corpus, skip (exit 77) when what the test needs is not
# there, make a work directory removed at exit (MOS_E2E_KEEP=1 keeps it),
# and make sanitizer reports reach stderr.
#   e2e_setup NAME [corpus]   -> SRC BUILD SHARED PCAPS MOS SCRIPT WORK
SRC=${MOS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${MOS_BUILD_DIR:-$SRC/build}
SHARED=${MOS_SHARED_DIR:-$SRC/../shared}
PCAPS=$SHARED/pcaps
MOS=$BUILD/mos-lua
SCRIPT=$SRC/scripts/flowdump.lua

e2e_setup() {
    if [ "${2:-}" = corpus ] && [ ! -f "$PCAPS/INDEX.tsv" ]; then
        echo "SKIP: capture corpus not found at $PCAPS (set MOS_SHARED_DIR)"
        exit 77
    fi
    if [ ! -x "$MOS" ]; then
        echo "SKIP: $MOS does not exist yet (build mos-lua first or set MOS_BUILD_DIR)"
        exit 77
    fi
    if [ ! -f "$SCRIPT" ]; then
        echo "SKIP: $SCRIPT does not exist yet"
        exit 77
    fi
    command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
    WORK=$(mktemp -d "/tmp/mos-$1.XXXXXX")
    trap 'if [ "${MOS_E2E_KEEP:-0}" = 1 ]; then echo "runs kept in $WORK"; else rm -rf "$WORK"; fi' EXIT
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
    export PYTHONDONTWRITEBYTECODE=1 # keep the source tree clean
}
