#!/bin/bash
# test_gpu_qat_calib_cli.sh — static activation calibration and
# --quantize-head on the GPU (lowbit train --device cuda), against the CPU
# path (--quantize-embeddings is refused on cuda: a clean error, checked):
#   - the run calibrates, trains with finite losses, and `lowbit eval
#     --model RUN_DIR --device cuda` gives exactly the trainer's last eval;
#   - the CUDA calibration observes the bf16 activations of the CUDA
#     forward: its absmax values are within 5e-2 (relative) of the CPU
#     pass's on the same model and batches (bf16 rounding, 2^-8 per op,
#     compounded over the layers);
#   - the CPU eval of the GPU-trained run dir is within 5e-2 of the CUDA eval
#     (bf16 compute vs the fp32 specification).
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
      --aq int8:tensor:static --calib-batches 3 --quantize-head)
if "$LOWBIT" train "${ARGS[@]}" --steps 1 --quantize-embeddings --device cuda --out "$T/e" > /dev/null 2> "$T/e.err" ||
   ! grep -q "^lowbit: error: .*--quantize-embeddings does not run on --device cuda" "$T/e.err"; then
    cat "$T/e.err"; fail "--quantize-embeddings on cuda: expected a clean error"
fi
"$LOWBIT" train "${ARGS[@]}" --steps 8 --device cuda --out "$T/g" > /dev/null 2> "$T/g.err" ||
    { cat "$T/g.err"; fail "train on cuda"; }
grep -q "calibrated 14 static activation sites" "$T/g.err" || fail "no calibration on cuda"
grep -v '"eval"' "$T/g/metrics.jsonl" | grep -q '"skipped":true' && fail "a step was skipped (non-finite)"
logged=$(grep '"eval"' "$T/g/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
ev() { "$LOWBIT" eval --model "$T/g" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device "$1" --json 2> /dev/null |
       sed -E 's/.*"ppl":([^,]*),.*/\1/'; }
got=$(ev cuda)
[ -n "$got" ] && [ "$got" = "$logged" ] || fail "eval --device cuda of the run dir gives '$got', the trainer logged $logged"
cpu=$(ev cpu)
awk -v a="$cpu" -v b="$got" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 5e-2 * b) }' ||
    fail "CPU eval $cpu vs CUDA eval $got of the GPU run: beyond 5e-2"
echo "GPU run: trainer/eval cuda ppl $got, eval cpu $cpu"

"$LOWBIT" train "${ARGS[@]}" --steps 1 --device cpu --out "$T/c" > /dev/null 2> "$T/c.err" || { cat "$T/c.err"; fail "cpu"; }
"$LOWBIT" train "${ARGS[@]}" --steps 1 --device cuda --out "$T/g1" > /dev/null 2> "$T/g1.err" || fail "cuda 1 step"
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
echo "PASS"
