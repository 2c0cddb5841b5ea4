#!/usr/bin/env bash
# test_crafted.sh - hand-crafted captures with hand-worked expectations.
#
# craft/cases.py writes the captures (and the malformed input files) into a
# temporary directory at test time; each tests/e2e/crafted_expect/<case>.json
# says what flowdump must report for <case>.pcap (or for its "input"), and
# craft/check_expect.py judges the run. Every run is made with --stats and
# under /usr/bin/time (peak RSS), and its stderr is scanned for sanitizer
# reports. Finishes with "N passed, N failed"; exit 77 when mos-lua or
# scripts/flowdump.lua is not built yet. Arguments: only these case names.
set -u

# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_setup crafted
HERE=$SRC/tests/e2e

if ! python3 "$HERE/craft/cases.py" "$WORK/pcaps"; then
    echo "FAIL: capture generation"
    echo "0 passed, 1 failed"
    exit 1
fi

# ASan's shadow memory and quarantine are not ours: scale RSS bounds for it.
if ldd "$MOS" 2>/dev/null | grep -q libasan; then
    export MOS_E2E_RSS_SCALE=${MOS_E2E_RSS_SCALE:-4}
fi

TIMECMD=()
if [ -x /usr/bin/time ]; then
    TIMECMD=(/usr/bin/time -f %M -o)
else
    echo "warning: /usr/bin/time missing (apt-get install time): RSS bounds will fail"
fi

if [ $# -gt 0 ]; then
    cases=("$@")
else
    cases=()
    for f in "$HERE"/crafted_expect/*.json; do
        b=$(basename "$f")
        cases+=("${b%.json}")
    done
fi

pass=0
fail=0
for c in "${cases[@]}"; do
    exp=$HERE/crafted_expect/$c.json
    run=$WORK/runs/$c
    mkdir -p "$run/out"
    mapfile -t extra < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); sys.stdout.write("".join(a + "\n" for a in e.get("args", [])))' "$exp")
    script=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("script", "flowdump.lua"))' "$exp")
    input=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("input", sys.argv[2] + ".pcap"))' "$exp" "$c")
    if [ ${#TIMECMD[@]} -gt 0 ]; then
        timer=("${TIMECMD[@]}" "$run/rss_kb")
    else
        timer=()
    fi
    "${timer[@]}" timeout -k 10 600 "$MOS" --stats "$run/stats.json" "${extra[@]}" \
        -r "$WORK/pcaps/$input" -s out="$run/out" "$SRC/scripts/$script" \
        >"$run/stdout" 2>"$run/stderr" </dev/null
    echo $? >"$run/rc"
    if python3 "$HERE/craft/check_expect.py" "$exp" "$run"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        sed -n '1,5p' "$run/stderr" | sed 's/^/    stderr: /'
    fi
done

echo "crafted: ${#cases[@]} cases, $pass passed, $fail failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
