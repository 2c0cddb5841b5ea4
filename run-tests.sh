#!/usr/bin/env bash
# Quick start, step 2: build twice (normal, and AddressSanitizer +
# UndefinedBehaviorSanitizer) with warnings as errors, and run every test
# suite (Criterion unit tests, busted specs, end-to-end tests) in both.
set -uo pipefail
cd "$(dirname "$0")"
JOBS=$(nproc)
total_pass=0; total_fail=0
for variant in normal sanitize; do
  dir=build-test-$variant
  opts=(-DMOS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [[ $variant == sanitize ]] && opts+=(-DMOS_SANITIZE=ON)
  echo "=== $variant build"
  if ! cmake -S . -B "$dir" "${opts[@]}" >/dev/null || ! cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1; then
    tail -40 "$dir.build.log"
    echo "build failed ($variant)"; total_fail=$((total_fail + 1)); continue
  fi
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  log=$dir/ctest.log
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" 2>&1 | tee "$log"
  p=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  n_fail=$(echo "$p" | awk '{print $1}'); n_all=$(echo "$p" | awk '{print $NF}')
  n_fail=${n_fail:-1}; n_all=${n_all:-0}
  total_pass=$((total_pass + n_all - n_fail)); total_fail=$((total_fail + n_fail))
done
echo
echo "tests: $total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
