#!/usr/bin/env bash
# gpu_train_step.sh — one training step of a Llama shape: lowbit against
# PyTorch (transformers LlamaForCausalLM, bf16 autocast, fused AdamW; eager
# and torch.compile), same batch, context and random tokens, on this GPU.
#
#   scripts/bench/gpu_train_step.sh [BUILD_DIR]     (default: $LB_BUILD, else build)
#   env: CONFIG (tinyllama-1.1b), BATCH (4), CTX (2048), STEPS (10), WARMUP (3),
#        MODES (eager,compile), LOWBIT (path of the lowbit binary), OUT (logs),
#        WQ (a weight fake-quant spec, e.g. int4:g128: the QAT step),
#        RECOMPUTE (1: a row for the bf16 step with --recompute blocks)
#
# Prints a table: implementation, step ms, tokens/s, MFU, peak GiB, ratio of
# tokens/s to torch.compile's running the same step (bf16; for the wq rows,
# the same fake-quant). MFU is PaLM's (6N + 12·L·C·T)·tokens over 989
# TFLOP/s (see train/cli/cmd_bench.c). If lowbit's step cannot run (an op
# family without a CUDA kernel yet aborts the step), its row says why and
# the PyTorch rows are still measured. With WQ set, lowbit runs twice (the
# bf16 step, then `--wq $WQ`) and PyTorch runs both: its bf16 step and its QAT step (every block
# nn.Linear through a min-max fake-quant with STE, torch_train_step.py
# --wq); the table adds the QAT step's overhead over lowbit's bf16 step and
# the ratio against torch.compile running the same fake-quant. A
# benchmark, not a test: exit 0 unless the script itself is misused.
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

# lowbit_row NAME [FLAGS...]: one lowbit bench run into $LOG/NAME.json
lowbit_row() {
    local name=$1
    shift
    if [ ! -x "$LOWBIT" ]; then
        echo '{"impl": "'"$name"'", "error": "no lowbit binary at '"$LOWBIT"'"}' >"$LOG/$name.json"
        return
    fi
    timeout "${LOWBIT_TIMEOUT:-300}" "$LOWBIT" bench --what train-step --config "$CONFIG" --batch "$BATCH" --ctx "$CTX" \
        --steps "$STEPS" --warmup "$WARMUP" --device cuda --json "$@" >"$LOG/$name.json" 2>"$LOG/$name.err"
    local rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$LOG/$name.json" ]; then
        local why
        why=$(grep -E "lowbit: (internal )?error|failed|check|abort" "$LOG/$name.err" | tail -n 2 | tr '\n' ' ')
        [ -n "$why" ] || why=$(tail -n 2 "$LOG/$name.err" | tr '\n' ' ')
        [ $rc -eq 124 ] && why="timed out after ${LOWBIT_TIMEOUT:-300} s. $why"
        printf '{"impl": "%s", "error": %s}\n' "$name" "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "exit $rc: $why")" >"$LOG/$name.json"
    else
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["impl"]=sys.argv[2]; print(json.dumps(d))' \
            "$LOG/$name.json" "$name" >"$LOG/$name.row" && mv "$LOG/$name.row" "$LOG/$name.json"
    fi
}

# lowbit
lowbit_row lowbit
[ -n "${WQ:-}" ] && lowbit_row "lowbit wq" --wq "$WQ"
[ "${RECOMPUTE:-0}" = 1 ] && lowbit_row "lowbit recompute" --recompute blocks

# PyTorch
# torch_run TAG [--wq SPEC]: the PyTorch peer (every mode of $MODES) appended to torch.jsonl
torch_run() {
    local tag=$1
    shift
    PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-420}" "$PY" "$HERE/torch_train_step.py" --config "$CONFIG" \
        --batch "$BATCH" --ctx "$CTX" --steps "$STEPS" --warmup "$WARMUP" --modes "$MODES" "$@" \
        >>"$LOG/torch.jsonl" 2>>"$LOG/torch.err"
    local rc=$?
    [ $rc -ne 0 ] && echo "{\"impl\": \"torch$tag\", \"error\": \"exit $rc (see $LOG/torch.err)\"}" >>"$LOG/torch.jsonl"
}
: >"$LOG/torch.jsonl"
: >"$LOG/torch.err"
torch_run ""                           # the bf16 step: the peer of lowbit's bf16 rows
[ -n "${WQ:-}" ] && torch_run " wq" --wq "$WQ"   # the same fake-quant: the peer of "lowbit wq"

{
    cat "$LOG/lowbit.json"
    [ -n "${WQ:-}" ] && cat "$LOG/lowbit wq.json"
    [ "${RECOMPUTE:-0}" = 1 ] && cat "$LOG/lowbit recompute.json"
    cat "$LOG/torch.jsonl"
} >"$LOG/rows.jsonl"
"$PY" - "$LOG/rows.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def compile_ref(r):   # the torch.compile row running the same step (bf16, or the same fake-quant)
    want = "torch compile wq" if r.get("impl", "").endswith(" wq") else "torch compile"
    return next((c for c in rows if c.get("impl") == want and "error" not in c), None)
print("%-17s %10s %12s %7s %9s %14s" % ("implementation", "step ms", "tokens/s", "MFU", "peak GiB", "vs compile"))
for r in rows:
    if "error" in r:
        print("%-17s  not measured: %s" % (r["impl"], r["error"]))
        continue
    ref = compile_ref(r)
    ratio = "%.2fx" % (r["tokens_per_s"] / ref["tokens_per_s"]) if ref else "-"
    peak = r.get("peak_alloc_gib")
    print("%-17s %10.1f %12.0f %6.1f%% %9s %14s" % (r["impl"], r["step_ms"], r["tokens_per_s"], 100 * r["mfu"],
          "%.1f" % peak if peak is not None else "-", ratio))
lb = next((r for r in rows if r.get("impl") == "lowbit" and "error" not in r), None)
if lb:
    print("lowbit phases (median ms): forward+loss %.1f, backward %.1f, adamw %.1f; loss %.3f -> %.3f"
          % (lb["fwd_ms"], lb["bwd_ms"], lb["adamw_ms"], lb["loss_first"], lb["loss_last"]))
lq = next((r for r in rows if r.get("impl") == "lowbit wq" and "error" not in r), None)
if lq and lb:
    print("fake-quant %s: lowbit QAT step %.1f ms vs bf16 step %.1f ms: overhead %+.1f%% (target <= 5%%)"
          % (lq.get("wq"), lq["step_ms"], lb["step_ms"], 100 * (lq["step_ms"] / lb["step_ms"] - 1)))
    tq = next((r for r in rows if r.get("impl") == "torch compile wq" and "error" not in r), None)
    if tq:
        print("lowbit QAT vs torch.compile with the same fake-quant: %.2fx tokens/s (target >= 1.25x)"
              % (lq["tokens_per_s"] / tq["tokens_per_s"]))
lr = next((r for r in rows if r.get("impl") == "lowbit recompute" and "error" not in r), None)
if lr and lb:
    print("recompute blocks: step %.1f ms vs %.1f ms (%+.1f%%), peak %.1f GiB vs %.1f GiB; loss %.3f -> %.3f"
          % (lr["step_ms"], lb["step_ms"], 100 * (lr["step_ms"] / lb["step_ms"] - 1), lr["peak_alloc_gib"],
             lb["peak_alloc_gib"], lr["loss_first"], lr["loss_last"]))
print("MFU = (6*N_matmul + 12*L*C*T) * B*T / step time / %.0f TFLOP/s" % (rows[0].get("peak_tflops") or 989))
EOF
exit 0
