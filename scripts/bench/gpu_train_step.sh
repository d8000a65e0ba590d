#!/usr/bin/env bash
# gpu_train_step.sh — one training step of a Llama shape: lowbit against
# PyTorch (transformers LlamaForCausalLM, bf16 autocast, fused AdamW; eager
# and torch.compile), same batch, context and random tokens, on this GPU.
#
#   scripts/bench/gpu_train_step.sh [BUILD_DIR]     (default: $LB_BUILD, else build)
#   env: CONFIG (tinyllama-1.1b), BATCH (4), CTX (2048), STEPS (10), WARMUP (3),
#        MODES (eager,compile), LOWBIT (path of the lowbit binary), OUT (logs)
#
# Prints a table: implementation, step ms, tokens/s, MFU, peak GiB, ratio of
# tokens/s to torch.compile's. MFU is PaLM's (6N + 12·L·C·T)·tokens over 989
# TFLOP/s (see train/cli/cmd_bench.c). If lowbit's step cannot run (an op
# family without a CUDA kernel yet aborts the step), its row says why and
# the PyTorch rows are still measured. A benchmark, not a test: exit 0
# unless the script itself is misused.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-${LB_BUILD:-build}}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LOWBIT=${LOWBIT:-$BUILD/lowbit}
CONFIG=${CONFIG:-tinyllama-1.1b}
BATCH=${BATCH:-4}
CTX=${CTX:-2048}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
MODES=${MODES:-eager,compile}
LOG=${OUT:-${TMPDIR:-/tmp}}/gpu_train_step
mkdir -p "$LOG"
PY=${LB_PY:-python3}

echo "== train step: $CONFIG, batch $BATCH x ctx $CTX, $WARMUP warm-up + $STEPS timed steps"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'

# lowbit
if [ -x "$LOWBIT" ]; then
    timeout "${LOWBIT_TIMEOUT:-300}" "$LOWBIT" bench --what train-step --config "$CONFIG" --batch "$BATCH" --ctx "$CTX" \
        --steps "$STEPS" --warmup "$WARMUP" --device cuda --json >"$LOG/lowbit.json" 2>"$LOG/lowbit.err"
    rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$LOG/lowbit.json" ]; then
        why=$(grep -E "lowbit: (internal )?error|failed|check|abort" "$LOG/lowbit.err" | tail -n 2 | tr '\n' ' ')
        [ -n "$why" ] || why=$(tail -n 2 "$LOG/lowbit.err" | tr '\n' ' ')
        [ $rc -eq 124 ] && why="timed out after ${LOWBIT_TIMEOUT:-300} s. $why"
        printf '{"impl": "lowbit", "error": %s}\n' "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "exit $rc: $why")" >"$LOG/lowbit.json"
    else
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["impl"]="lowbit"; print(json.dumps(d))' \
            "$LOG/lowbit.json" >"$LOG/lowbit.row" && mv "$LOG/lowbit.row" "$LOG/lowbit.json"
    fi
else
    echo '{"impl": "lowbit", "error": "no lowbit binary at '"$LOWBIT"'"}' >"$LOG/lowbit.json"
fi

# PyTorch
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-420}" "$PY" "$HERE/torch_train_step.py" --config "$CONFIG" --batch "$BATCH" --ctx "$CTX" \
    --steps "$STEPS" --warmup "$WARMUP" --modes "$MODES" >"$LOG/torch.jsonl" 2>"$LOG/torch.err"
rc=$?
[ $rc -ne 0 ] && echo "{\"impl\": \"torch\", \"error\": \"exit $rc (see $LOG/torch.err)\"}" >>"$LOG/torch.jsonl"

cat "$LOG/lowbit.json" "$LOG/torch.jsonl" >"$LOG/rows.jsonl"
"$PY" - "$LOG/rows.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ref = next((r for r in rows if r.get("impl") == "torch compile" and "error" not in r), None)
print("%-15s %10s %12s %7s %9s %14s" % ("implementation", "step ms", "tokens/s", "MFU", "peak GiB", "vs compile"))
for r in rows:
    if "error" in r:
        print("%-15s  not measured: %s" % (r["impl"], r["error"]))
        continue
    ratio = "%.2fx" % (r["tokens_per_s"] / ref["tokens_per_s"]) if ref else "-"
    peak = r.get("peak_alloc_gib")
    print("%-15s %10.1f %12.0f %6.1f%% %9s %14s" % (r["impl"], r["step_ms"], r["tokens_per_s"], 100 * r["mfu"],
          "%.1f" % peak if peak is not None else "-", ratio))
lb = next((r for r in rows if r.get("impl") == "lowbit" and "error" not in r), None)
if lb:
    print("lowbit phases (median ms): forward+loss %.1f, backward %.1f, adamw %.1f; loss %.3f -> %.3f"
          % (lb["fwd_ms"], lb["bwd_ms"], lb["adamw_ms"], lb["loss_first"], lb["loss_last"]))
print("MFU = (6*N_matmul + 12*L*C*T) * B*T / step time / %.0f TFLOP/s" % (rows[0].get("peak_tflops") or 989))
EOF
exit 0
