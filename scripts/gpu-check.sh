#!/usr/bin/env bash
# gpu-check.sh — one command for a GPU host: build lowbit, run the GPU tests,
# the CPU suite and the GPU benchmarks, and print a summary table last.
#
#   bash scripts/gpu-check.sh            (from the repository root)
#
# Logs go to $OUT (the device tool's output folder) or, when OUT is unset,
# to ./out/gpu-check: build.log, ctest-gpu.log, ctest-cpu.log, bench.log.
# cJSON and PCRE2, which such hosts lack, are unpacked from .offline/ (see
# shared/offline-deps/README.md; carry it along) when that folder exists.
# Environment: LB_BUILD (build dir, default build-gpu), GPU_CHECK_CPU=0 skips
# the CPU suite, GPU_CHECK_BENCH=0 skips the benchmarks, LB_PY is passed to
# CMake for the Python parity tests (unset: they skip), CTEST_TIMEOUT (s).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-$root/out/gpu-check}
mkdir -p "$out"
build=${LB_BUILD:-build-gpu}
jobs=$(nproc)
timeout_s=${CTEST_TIMEOUT:-300}
declare -a rows=()
row() { rows+=("$(printf '%-12s %-34s %6s' "$1" "$2" "$3")"); }
now() { date +%s; }

summary() {
    echo
    echo "== gpu-check summary ($(hostname), logs in $out) =="
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
            sed 's/^/gpu: /'
    fi
    printf '%-12s %-34s %6s\n' step result seconds
    for r in "${rows[@]}"; do echo "$r"; done
}

# ctest_result LOG: "P passed, F failed, S skipped of N" from a ctest log
# (ctest writes "100% tests passed out of N" or "... N tests failed out of M")
ctest_result() {
    local log=$1 n f s line
    line=$(grep -E 'tests (passed|failed) out of [0-9]+' "$log" | tail -1)
    if [ -z "$line" ]; then echo "no result (see log)"; return; fi
    n=$(echo "$line" | grep -oE '[0-9]+$')
    f=$(echo "$line" | grep -oE '[0-9]+ tests failed' | grep -oE '^[0-9]+')
    f=${f:-0}
    s=$(grep -cE '\(Skipped\)$' "$log")
    echo "$((n - f - s)) passed, $f failed, $s skipped of $n"
}

# ---- dependencies ------------------------------------------------------------
. scripts/bench/offline_env.sh
lb_offline_env

# ---- build ---------------------------------------------------------------------
t0=$(now)
{
    cmake -S . -B "$build" "${prefix_args[@]}" -DLOWBIT_CUDA=ON ${LB_PY:+-DLB_PY="$LB_PY"} &&
        cmake --build "$build" -j"$jobs"
} >"$out/build.log" 2>&1
build_rc=$?
if [ $build_rc -ne 0 ]; then
    row build "FAILED (rc $build_rc)" $(($(now) - t0))
    echo "---- build.log (last 60 lines) ----"
    tail -60 "$out/build.log"
    summary
    exit 1
fi
row build ok $(($(now) - t0))
status=0

# ---- GPU tests -------------------------------------------------------------------
t0=$(now)
ctest --test-dir "$build" -L gpu --output-on-failure --timeout "$timeout_s" >"$out/ctest-gpu.log" 2>&1 || status=1
row "ctest gpu" "$(ctest_result "$out/ctest-gpu.log")" $(($(now) - t0))
grep -E '^\s*[0-9]+/[0-9]+ Test' "$out/ctest-gpu.log"
grep -E 'FAIL|error' "$out/ctest-gpu.log" | head -40

# ---- CPU suite -------------------------------------------------------------------
if [ "${GPU_CHECK_CPU:-1}" != 0 ]; then
    t0=$(now)
    ctest --test-dir "$build" -LE gpu --output-on-failure -j"$jobs" --timeout "$timeout_s" \
        >"$out/ctest-cpu.log" 2>&1 || status=1
    row "ctest cpu" "$(ctest_result "$out/ctest-cpu.log")" $(($(now) - t0))
    grep -E '\*\*\*Failed|\*\*\*Timeout|Exception' "$out/ctest-cpu.log" | head -20
else
    row "ctest cpu" "not run (GPU_CHECK_CPU=0)" 0
fi

# ---- benchmarks ------------------------------------------------------------------
: >"$out/bench.log"
shopt -s nullglob
benches=(scripts/bench/gpu_*.sh)
if [ "${GPU_CHECK_BENCH:-1}" = 0 ]; then
    row bench "not run (GPU_CHECK_BENCH=0)" 0
elif [ ${#benches[@]} -eq 0 ]; then
    row bench "none (scripts/bench/gpu_*.sh)" 0
else
    for b in "${benches[@]}"; do
        t0=$(now)
        echo "==== $b" >>"$out/bench.log"
        LB_BUILD="$build" OUT="$out" bash "$b" >>"$out/bench.log" 2>&1
        rc=$?
        [ $rc -ne 0 ] && status=1
        row "$(basename "$b" .sh)" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc)")" $(($(now) - t0))
    done
    tail -40 "$out/bench.log"
fi

summary
exit $status
