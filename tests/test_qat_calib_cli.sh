#!/bin/bash
# test_qat_calib_cli.sh — static activation scales (--aq int8:tensor:static)
# through the command line, on the CPU:
#   - lowbit train calibrates every static site before step 0 (absmax over
#     --calib-batches batches), writes "<site>.absmax" into
#     quant_state.safetensors, and `lowbit eval --model RUN_DIR` gives
#     exactly the trainer's last eval (the scales round-trip);
#   - resume-safe: a run resumed from its step-3 checkpoint ends with the
#     same losses, weights and quant state (byte for byte) as the
#     uninterrupted run (the scales are recomputed on the starting model);
#   - more calibration batches can only raise an absmax (max over batches);
#   - lowbit ptq --method rtn --aq int8:tensor:static --data calibrates the
#     same way, and eval reads the run dir;
#   - errors: --calib-batches 0; ptq --aq static without --data.
#
# Env: LOWBIT, LB_SRC, LB_TMP, LB_PY (optional: reads the absmax values).
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir qat_calib_cli

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2

ARGS=(--model "$T/m" --data "$T/d.h5" --steps 6 --batch 4 --ctx 32 --lr 3e-3 --warmup 2 --eval-windows 4
      --device cpu --wq int4:g32 --aq int8:tensor:static --calib-batches 2 --save-every 3 --keep-ckpts 5)
"$LOWBIT" train "${ARGS[@]}" --out "$T/a" > /dev/null 2> "$T/a.err" || { cat "$T/a.err"; fail "train with static scales"; }
grep -q "calibrated 14 static activation sites" "$T/a.err" || { cat "$T/a.err"; fail "no calibration line for 14 sites"; }
"$LOWBIT" info "$T/a/quant_state.safetensors" > "$T/info.txt" 2>&1 || fail "info on quant_state"
n=$(grep -c '\.input\.absmax' "$T/info.txt")
[ "$n" = 14 ] || { cat "$T/info.txt"; fail "quant_state has $n <site>.absmax tensors, expected 14"; }
logged=$(grep '"eval"' "$T/a/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
got=$("$LOWBIT" eval --model "$T/a" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json 2> /dev/null |
      sed -E 's/.*"ppl":([^,]*),.*/\1/')
[ -n "$got" ] && [ "$got" = "$logged" ] || fail "eval of the run dir gives ppl '$got', the trainer logged $logged"

# resume from ckpt-3: the same run to the byte
cp -r "$T/a" "$T/b"
rm -rf "$T/b/ckpt-6.h5" "$T/b/model" "$T/b/quant_state.safetensors"
"$LOWBIT" train "${ARGS[@]}" --out "$T/b" --resume > /dev/null 2> "$T/b.err" || { cat "$T/b.err"; fail "resume"; }
grep -q "resumed from .*ckpt-3.h5" "$T/b.err" || { cat "$T/b.err"; fail "did not resume from ckpt-3"; }
losses() { grep -v '"eval"' "$1" | sed -E 's/.*"step":([0-9]+),"loss":([^,]*),.*/\1 \2/'; }
diff <(losses "$T/a/metrics.jsonl") <(losses "$T/b/metrics.jsonl") > /dev/null ||
    fail "resumed losses differ: $(losses "$T/a/metrics.jsonl" | tr '\n' ' ') vs $(losses "$T/b/metrics.jsonl" | tr '\n' ' ')"
cmp -s "$T/a/quant_state.safetensors" "$T/b/quant_state.safetensors" || fail "resumed quant state differs"
cmp -s "$T/a/model/model.safetensors" "$T/b/model/model.safetensors" || fail "resumed weights differ"

# more calibration batches: every absmax >= the 2-batch one (max over batches)
"$LOWBIT" train "${ARGS[@]}" --steps 1 --save-every 0 --calib-batches 5 --out "$T/c5" > /dev/null 2>&1 || fail "train 5 calib"
"$LOWBIT" train "${ARGS[@]}" --steps 1 --save-every 0 --out "$T/c2" > /dev/null 2>&1 || fail "train 2 calib"
if [ -n "${LB_PY:-}" ] && "$LB_PY" -c 'import safetensors' 2> /dev/null; then
    "$LB_PY" - "$T/c2/quant_state.safetensors" "$T/c5/quant_state.safetensors" <<'PY' || fail "absmax over 5 batches below 2"
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
keys = [k for k in a if k.endswith(".absmax")]
assert len(keys) == 14, keys
bad = [k for k in keys if not (b[k][0] >= a[k][0] > 0)]
print("absmax 2 vs 5 batches:", ", ".join("%.3f/%.3f" % (a[k][0], b[k][0]) for k in keys[:4]), "...")
sys.exit(1 if bad else 0)
PY
fi

# ptq: calibrated the same way; eval reads it
"$LOWBIT" ptq --method rtn --wq int4:g32 --aq int8:tensor:static --data "$T/d.h5" --calib-batches 2 --batch 4 --ctx 32 \
    --model "$T/m" --out "$T/p" > /dev/null 2> "$T/p.err" || { cat "$T/p.err"; fail "ptq with static scales"; }
"$LOWBIT" info "$T/p/quant_state.safetensors" 2>&1 | grep -q 'layers.1.mlp.down_proj.input.absmax' || fail "ptq: no absmax"
"$LOWBIT" eval --model "$T/p" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json > /dev/null 2>&1 ||
    fail "eval of the ptq run dir"
# the ptq pass and the trainer's pass see the same batches on the same model: the same scales
if [ -n "${LB_PY:-}" ] && "$LB_PY" -c 'import safetensors' 2> /dev/null; then
    "$LB_PY" - "$T/p/quant_state.safetensors" "$T/c2/quant_state.safetensors" <<'PY' || fail "ptq and train scales differ"
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
keys = [k for k in a if k.endswith(".absmax")]
sys.exit(0 if len(keys) == 14 and all(a[k][0] == b[k][0] for k in keys) else 1)
PY
fi

expect_error "--calib-batches must be >= 1" train "${ARGS[@]}" --calib-batches 0 --out "$T/e1"
expect_error "give --data" ptq --method rtn --wq int4:g32 --aq int8:tensor:static --model "$T/m" --out "$T/e2"
echo "PASS"
