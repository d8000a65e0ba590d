#!/bin/bash
# test_gpu_qat_calib_cli.sh — static activation calibration,
# --quantize-embeddings and --quantize-head on the GPU (lowbit train
# --device cuda), against the CPU path, on llama-tiny (untied: the table and
# the head have their own quantizers):
#   - the run calibrates, trains with finite losses, and `lowbit eval
#     --model RUN_DIR --device cuda` gives exactly the trainer's last eval;
#   - the CUDA calibration observes the bf16 activations of the CUDA
#     forward: its absmax values are within 5e-2 (relative) of the CPU
#     pass's on the same model and batches (bf16 rounding, 2^-8 per op,
#     compounded over the layers);
#   - the CPU eval of the GPU-trained run dir is within 5e-2 of the CUDA eval
#     (bf16 compute vs the fp32 specification);
#   - step 1's loss on cuda is within 5e-2 of the CPU's (same data, same
#     init; bf16 compute).
# Then gpt2-tiny (its head tied to the token table) with --quantize-embeddings
# and --quantize-head (one quantizer for both), and with --quantize-embeddings
# alone (the head reads the plain table): 4 steps on each device, finite,
# step 1's loss and the evals compared as above.
# Skipped (77) without a usable GPU.
#
# Env: LOWBIT, LB_SRC, LB_TMP, LB_PY (optional, for the absmax comparison).
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gpu_qat_calib

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2
lb_gpu_probe_or_skip "$T/m"

ARGS=(--model "$T/m" --data "$T/d.h5" --batch 4 --ctx 32 --lr 3e-3 --warmup 2 --eval-windows 4 --wq int4:g32
      --aq int8:tensor:static --calib-batches 3 --quantize-head --quantize-embeddings)
"$LOWBIT" train "${ARGS[@]}" --steps 8 --device cuda --out "$T/g" > /dev/null 2> "$T/g.err" ||
    { cat "$T/g.err"; fail "train on cuda"; }
grep -q "calibrated 14 static activation sites" "$T/g.err" || fail "no calibration on cuda"
grep -v '"eval"' "$T/g/metrics.jsonl" | grep -q '"skipped":true' && fail "a step was skipped (non-finite)"
logged=$(grep '"eval"' "$T/g/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
# ev RUN DEVICE: the ppl of `lowbit eval` of run dir RUN
ev() { "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device "$2" --json 2> /dev/null |
       sed -E 's/.*"ppl":([^,]*),.*/\1/'; }
# near A B TOL: |A - B| <= TOL * |B|, both numbers
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b
                                                   exit !(a == a + 0 && b > 0 && d <= t * b) }'; }
# loss1 RUN: step 1's loss
loss1() { lb_losses "$1/metrics.jsonl" | awk '$1 == 1 { print $2 }'; }
got=$(ev "$T/g" cuda)
[ -n "$got" ] && [ "$got" = "$logged" ] || fail "eval --device cuda of the run dir gives '$got', the trainer logged $logged"
cpu=$(ev "$T/g" cpu)
near "$cpu" "$got" 5e-2 || fail "CPU eval $cpu vs CUDA eval $got of the GPU run: beyond 5e-2"
echo "GPU run: trainer/eval cuda ppl $got, eval cpu $cpu"

"$LOWBIT" train "${ARGS[@]}" --steps 1 --device cpu --out "$T/c" > /dev/null 2> "$T/c.err" || { cat "$T/c.err"; fail "cpu"; }
"$LOWBIT" train "${ARGS[@]}" --steps 1 --device cuda --out "$T/g1" > /dev/null 2> "$T/g1.err" || fail "cuda 1 step"
near "$(loss1 "$T/g1")" "$(loss1 "$T/c")" 5e-2 ||
    fail "step 1 loss: cuda $(loss1 "$T/g1") vs cpu $(loss1 "$T/c"), beyond 5e-2"
echo "step 1 loss: cuda $(loss1 "$T/g1"), cpu $(loss1 "$T/c")"
if [ -n "${LB_PY:-}" ] && "$LB_PY" -c 'import safetensors' 2> /dev/null; then
    "$LB_PY" - "$T/c/quant_state.safetensors" "$T/g1/quant_state.safetensors" <<'PY' || fail "CUDA absmax vs CPU"
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
keys = [k for k in a if k.endswith(".absmax")]
assert len(keys) == 14 and "lm_head.weight.scales" in b, sorted(b)[:5]
worst = max(abs(float(a[k][0]) - float(b[k][0])) / float(a[k][0]) for k in keys)
print("absmax CUDA vs CPU: worst relative difference %.2e over %d sites" % (worst, len(keys)))
sys.exit(0 if worst <= 5e-2 else 1)
PY
fi

# tied RUN EXTRA...: gpt2-tiny with --quantize-embeddings and EXTRA, 4 steps on cuda and on the cpu
lb_test_model gpt2-tiny "$T/gm"
tied() {
    local n="$1"; shift
    local a=(--model "$T/gm" --data "$T/d.h5" --batch 4 --ctx 32 --lr 3e-3 --warmup 2 --eval-windows 4 --wq int4:g32
             --quantize-embeddings "$@" --steps 4)
    "$LOWBIT" train "${a[@]}" --device cuda --out "$T/$n.g" > /dev/null 2> "$T/$n.g.err" ||
        { cat "$T/$n.g.err"; fail "gpt2 $n: train on cuda"; }
    "$LOWBIT" train "${a[@]}" --device cpu --out "$T/$n.c" > /dev/null 2> "$T/$n.c.err" ||
        { cat "$T/$n.c.err"; fail "gpt2 $n: train on cpu"; }
    grep -v '"eval"' "$T/$n.g/metrics.jsonl" | grep -q '"skipped":true' && fail "gpt2 $n: a step was skipped (non-finite)"
    local lg lc logged got cpu
    lg=$(loss1 "$T/$n.g") lc=$(loss1 "$T/$n.c")
    near "$lg" "$lc" 5e-2 || fail "gpt2 $n: step 1 loss cuda $lg vs cpu $lc, beyond 5e-2"
    logged=$(grep '"eval"' "$T/$n.g/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
    got=$(ev "$T/$n.g" cuda) cpu=$(ev "$T/$n.g" cpu)
    [ -n "$got" ] && [ "$got" = "$logged" ] || fail "gpt2 $n: eval --device cuda gives '$got', the trainer logged $logged"
    near "$cpu" "$got" 5e-2 || fail "gpt2 $n: CPU eval $cpu vs CUDA eval $got of the GPU run: beyond 5e-2"
    echo "gpt2 $n: step 1 loss cuda $lg cpu $lc; eval cuda $got cpu $cpu"
}
tied head --quantize-head
tied plain
echo "PASS"
