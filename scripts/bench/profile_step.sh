#!/usr/bin/env bash
# profile_step.sh — one focused call on a GPU host: build lowbit (with
# TESTS=1 everything), time lowbit's training step with the op-level
# profiler (lowbit bench --profile), with TORCH=1 the PyTorch peer through
# gpu_train_step.sh (MODES, default compile), and last (TESTS=1) run
# `ctest -L gpu`: the numbers come back even if the tests run long.
#
#   bash scripts/bench/profile_step.sh       (repository root; carry .offline)
#   env: LB_BUILD (build-gpu), TESTS (0), TORCH (0), STEPS (5), WARMUP (2),
#        CONFIG (tinyllama-1.1b), BATCH (4), CTX (2048), BENCH_ENV (extra
#        "VAR=value ..." runs of the lowbit bench, ';'-separated, each
#        profiled), OUT (logs)
# Prints the ctest summary and the profile tables; logs under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-out/profile_step}
mkdir -p "$out"
build=${LB_BUILD:-build-gpu}
. scripts/bench/offline_env.sh
lb_offline_env
t0=$(date +%s)
target=(--target lowbit)
[ "${TESTS:-0}" = 1 ] && target=()
if ! { cmake -S . -B "$build" "${prefix_args[@]}" -DLOWBIT_CUDA=ON >"$out/build.log" 2>&1 &&
       cmake --build "$build" -j"$(nproc)" "${target[@]}" >>"$out/build.log" 2>&1; }; then
    tail -40 "$out/build.log"
    exit 1
fi
echo "build: $(($(date +%s) - t0)) s"
bench() {   # bench NAME [VAR=value ...]
    local name=$1
    shift
    env "$@" "$build/lowbit" bench --what train-step --config "${CONFIG:-tinyllama-1.1b}" --batch "${BATCH:-4}" \
        --ctx "${CTX:-2048}" --steps "${STEPS:-5}" --warmup "${WARMUP:-2}" --device cuda --profile \
        >"$out/bench-$name.txt" 2>"$out/bench-$name.err"
    echo "== lowbit bench $name $*"
    cat "$out/bench-$name.txt"
    sed -n '/^profile:/,$p' "$out/bench-$name.err" | head -${PROFILE_ROWS:-45}
}
bench main
if [ -n "${BENCH_ENV:-}" ]; then
    i=0
    IFS=';' read -ra variants <<<"$BENCH_ENV"
    for v in "${variants[@]}"; do
        i=$((i + 1))
        # shellcheck disable=SC2086
        bench "v$i" $v
    done
fi
if [ "${TORCH:-0}" = 1 ]; then
    MODES=${MODES:-compile} STEPS=${STEPS:-5} WARMUP=${WARMUP:-2} LB_BUILD="$build" OUT="$out" \
        bash scripts/bench/gpu_train_step.sh
fi
if [ "${TESTS:-0}" = 1 ]; then
    t0=$(date +%s)
    ctest --test-dir "$build" -L gpu --output-on-failure --timeout 120 -j2 >"$out/ctest-gpu.log" 2>&1
    grep -E 'tests passed|tests failed|\*\*\*Failed|Timeout|Not Run|FAIL' "$out/ctest-gpu.log" | head -30
    echo "ctest gpu: $(($(date +%s) - t0)) s"
fi
