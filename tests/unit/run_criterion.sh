#!/usr/bin/env bash
# run_criterion.sh BINARY - runs one Criterion unit suite for ctest and tells
# "skipped" apart from "passed": exit 0 when every test ran and passed, the
# suite's own non-zero status when anything failed, and 77 (ctest's
# SKIP_RETURN_CODE here) when nothing failed but some tests could not run
# (cr_skip_test: not root, corpus absent, built without DPDK), after
# listing them. Criterion itself exits 0 in that case and prints skips only
# with --verbose; its TAP report names them.
set -u
bin=$1
shift
tap=$(mktemp /tmp/mos-criterion.XXXXXX)
trap 'rm -f "$tap"' EXIT
"$bin" --jobs 1 --tap="$tap" "$@"
rc=$?
[ $rc -ne 0 ] && exit $rc
if grep -q '# SKIP' "$tap"; then
    echo "SKIP: $(grep -c '# SKIP' "$tap") test(s) of $(basename "$bin") could not run:"
    grep '# SKIP' "$tap" | sed 's/^ok - /  /'
    exit 77
fi
exit 0
