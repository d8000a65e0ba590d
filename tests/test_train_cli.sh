#!/bin/bash
# test_train_cli.sh — `lowbit train` end to end on a tiny Llama: the loss
# falls over 40 steps for plain fine-tuning and for QAT int4; the run
# directory has its layout; `lowbit eval --model RUN_DIR` gives exactly the
# ppl the trainer logged last (same windows); a real divergence (lr 1e30)
# skips non-finite steps, logs them and stops after --max-bad-steps;
# `lowbit ptq --method rtn` writes a run dir that eval reads; errors.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir train_cli

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2

ARGS=(--model "$T/m" --data "$T/d.h5" --steps 40 --batch 4 --ctx 32 --lr 3e-3 --warmup 2 --eval-windows 4
      --eval-every 20 --device cpu)
for kind in fp qat; do
    extra=()
    [ "$kind" = qat ] && extra=(--wq int4:g32)
    "$LOWBIT" train "${ARGS[@]}" "${extra[@]}" --out "$T/$kind" --json > "$T/$kind.json" 2> "$T/$kind.err" ||
        { cat "$T/$kind.err"; fail "train $kind"; }
    first=$(lb_mean_loss "$T/$kind/metrics.jsonl" 1 5)
    last=$(lb_mean_loss "$T/$kind/metrics.jsonl" 36 40)
    echo "$kind: mean loss of steps 1-5 $first, of steps 36-40 $last"
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }' || fail "$kind: loss did not fall ($first -> $last)"
    for f in config.json metrics.jsonl ckpt-40.h5 model/config.json model/model.safetensors model/tokenizer.json; do
        [ -s "$T/$kind/$f" ] || fail "$kind: $f missing"
    done
    grep -q '"tokens_per_s"' "$T/$kind/metrics.jsonl" || fail "$kind: metrics lack tokens_per_s"
    grep -q '"step":20,"eval"' "$T/$kind/metrics.jsonl" || fail "$kind: no eval line at step 20"
    # eval of the run dir == the trainer's last eval (same windows)
    logged=$(grep '"eval"' "$T/$kind/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
    "$LOWBIT" eval --model "$T/$kind" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json \
        > "$T/$kind.eval" 2> /dev/null || fail "eval of the $kind run dir"
    got=$(sed -E 's/.*"ppl":([^,]*),.*/\1/' "$T/$kind.eval")
    [ "$got" = "$logged" ] || fail "$kind: eval of the run dir gives ppl $got, the trainer logged $logged"
done
[ -s "$T/qat/quant_state.safetensors" ] || fail "QAT run without quant_state.safetensors"
[ -e "$T/fp/quant_state.safetensors" ] && fail "a plain run has a quant_state.safetensors"
"$LOWBIT" info "$T/qat/quant_state.safetensors" > "$T/info.txt" 2>&1 || fail "info on quant_state"

# divergence: lr 1e30 overflows the weights after the first update; the next
# steps are skipped (no update) and logged; three in a row stop the run
expect_error "non-finite" train --model "$T/m" --data "$T/d.h5" --steps 10 --batch 2 --ctx 16 --lr 1e30 \
    --save-every 1 --eval-windows 0 --device cpu --out "$T/nan"
n=$(grep -c '"skipped":true' "$T/nan/metrics.jsonl")
[ "$n" -eq 3 ] || fail "expected 3 skipped steps logged, found $n"
grep -q '"loss":null' "$T/nan/metrics.jsonl" || fail "a skipped step's loss is not null"
grep -q "last good checkpoint is ckpt-" "$T/err.txt" || { cat "$T/err.txt"; fail "the error does not name the last good checkpoint"; }

# ptq rtn: a run dir eval reads; gptq is refused for now
"$LOWBIT" ptq --method rtn --wq int4:g32 --model "$T/m" --out "$T/ptq" > /dev/null || fail "ptq rtn"
[ -s "$T/ptq/quant_state.safetensors" ] && [ -s "$T/ptq/model/model.safetensors" ] || fail "ptq run dir layout"
"$LOWBIT" eval --model "$T/ptq" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json > "$T/ptq.eval" 2> /dev/null ||
    fail "eval of the ptq run dir"
"$LOWBIT" eval --model "$T/m" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json > "$T/m.eval" 2> /dev/null
cmp -s "$T/ptq.eval" "$T/m.eval" && fail "int4 RTN gives exactly the fp32 result"
# info describes a run dir: its config, the quantized weights, then model/
"$LOWBIT" info "$T/ptq" > "$T/ptq.info" || fail "info on a run dir"
grep -q "lowbit run directory" "$T/ptq.info" && grep -qE "quant_state +[0-9]+ quantized weights \(e.g. int4:g32" "$T/ptq.info" &&
    grep -q "Hugging Face model directory" "$T/ptq.info" || fail "info on a run dir: $(cat "$T/ptq.info")"
"$LOWBIT" info "$T/ptq" --json | grep -q '"kind":"run_dir"' || fail "info --json on a run dir"
expect_error "not implemented yet" ptq --method gptq --wq int4 --model "$T/m" --out "$T/p2"
expect_error "already holds a run" ptq --method rtn --wq int4:g32 --model "$T/m" --out "$T/ptq"

# errors
expect_error "--wq" train "${ARGS[@]}" --wq int9 --out "$T/bad1"
expect_error "--micro-batch" train "${ARGS[@]}" --micro-batch 3 --out "$T/bad2"
expect_error "--data" train --model "$T/m" --out "$T/bad3"
expect_error "no-such.h5" train --model "$T/m" --data "$T/no-such.h5" --out "$T/bad4"
echo "ok"
