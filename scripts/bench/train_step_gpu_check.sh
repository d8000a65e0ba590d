#!/usr/bin/env bash
# train_step_gpu_check.sh — one short call on a GPU host for work on the
# training step: build lowbit and the GPU tests named in TESTS, time the
# step with the op-level profiler (bf16, and with WQ the fake-quant step),
# optionally the PyTorch peer (TORCH=1: gpu_train_step.sh, MODES), and run
# the tests last, so the numbers come back even when the tests run long.
#
#   bash scripts/bench/train_step_gpu_check.sh      (repository root; carry .offline)
#   env: LB_BUILD (build-gpu), OUT (logs; out/train_step_check), STEPS (5),
#        WARMUP (2), WQ (int4:g128; empty: no QAT row), PROFILE (1), BENCH_WQ
#        (1: also profile the QAT step; 0: the peer script still times it), TORCH
#        (0), MODES (compile), TORCH_TIMEOUT (300), TESTS (space-separated
#        ctest names; "all": ctest -L gpu; empty: none), CTEST_TIMEOUT (120)
# Prints the bench lines, the profile tables (first PROFILE_ROWS rows), the
# PyTorch table and the ctest summary; full logs under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-out/train_step_check}
mkdir -p "$out"
build=${LB_BUILD:-build-gpu}
WQ=${WQ-int4:g128}
TESTS=${TESTS-all}
. scripts/bench/offline_env.sh
lb_offline_env

t0=$(date +%s)
targets=(--target lowbit)
if [ "$TESTS" = all ]; then
    targets=()
else
    for t in $TESTS; do targets+=("$t"); done
fi
if ! { cmake -S . -B "$build" "${prefix_args[@]}" -DLOWBIT_CUDA=ON >"$out/build.log" 2>&1 &&
       cmake --build "$build" -j"$(nproc)" "${targets[@]}" >>"$out/build.log" 2>&1; }; then
    tail -40 "$out/build.log"
    exit 1
fi
echo "build: $(($(date +%s) - t0)) s"

bench() {   # bench NAME [lowbit bench flags...]
    local name=$1
    shift
    local prof=()
    [ "${PROFILE:-1}" = 1 ] && prof=(--profile)
    "$build/lowbit" bench --what train-step --config "${CONFIG:-tinyllama-1.1b}" --batch "${BATCH:-4}" \
        --ctx "${CTX:-2048}" --steps "${STEPS:-5}" --warmup "${WARMUP:-2}" --device cuda "${prof[@]}" "$@" \
        >"$out/bench-$name.txt" 2>"$out/bench-$name.err"
    echo "== lowbit bench $name $* (rc $?)"
    cat "$out/bench-$name.txt"
    grep -E "error|abort" "$out/bench-$name.err" | head -5
    sed -n '/^profile:/,$p' "$out/bench-$name.err" | head -"${PROFILE_ROWS:-40}"
}
bench bf16
[ -n "$WQ" ] && [ "${BENCH_WQ:-1}" = 1 ] && bench wq --wq "$WQ"

if [ "${TORCH:-0}" = 1 ]; then
    MODES=${MODES:-compile} STEPS=${STEPS:-5} WARMUP=${WARMUP:-2} TORCH_TIMEOUT=${TORCH_TIMEOUT:-300} \
        LB_BUILD="$build" OUT="$out" WQ="$WQ" bash scripts/bench/gpu_train_step.sh
fi

if [ -n "$TESTS" ]; then
    t0=$(date +%s)
    sel=(-L gpu)
    [ "$TESTS" != all ] && sel=(-R "^($(echo "$TESTS" | tr ' ' '|'))\$")
    ctest --test-dir "$build" "${sel[@]}" --output-on-failure --timeout "${CTEST_TIMEOUT:-120}" -j3 \
        >"$out/ctest-gpu.log" 2>&1
    grep -E 'Test +#|tests passed|tests failed|FAIL' "$out/ctest-gpu.log" | head -60
    echo "ctest: $(($(date +%s) - t0)) s"
fi
