#!/bin/bash
# test_gpu_qat_cli.sh — QAT on the GPU through the command line:
#   - `lowbit train --device cuda --wq int4:g32` (min-max) and
#     `--wq int4:g32:lsq` (learned scales): the loss falls;
#   - checkpoint + resume on the GPU (LB_DETERMINISTIC=1): a run resumed
#     from its step-6 checkpoint logs losses identical (as written) to an
#     uninterrupted run's, and the same final weights and quant state;
#   - `lowbit eval --model RUN_DIR --device cuda` of the GPU-trained run
#     gives exactly the trainer's last logged eval (the same windows, batch
#     1, the same device path);
#   - --kd on the GPU runs (teacher forward and KL on the device), loss finite.
# Skipped (77) without a usable GPU.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gpu_qat
export LB_DETERMINISTIC=1

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2

# no GPU (or a build without CUDA): skipped
lb_gpu_probe_or_skip "$T/m"

ARGS=(--model "$T/m" --data "$T/d.h5" --steps 12 --batch 4 --micro-batch 2 --ctx 32 --lr 3e-3 --warmup 2
      --eval-windows 4 --device cuda --seed 3)

for kind in minmax lsq; do
    wq=int4:g32
    [ "$kind" = lsq ] && wq=int4:g32:lsq
    # A: uninterrupted
    "$LOWBIT" train "${ARGS[@]}" --wq "$wq" --out "$T/A-$kind" > /dev/null 2> "$T/A-$kind.err" ||
        { tail -20 "$T/A-$kind.err"; fail "$kind: run A"; }
    lb_losses "$T/A-$kind/metrics.jsonl" > "$T/A-$kind.loss"
    [ "$(wc -l < "$T/A-$kind.loss")" -eq 12 ] || fail "$kind: run A logged $(wc -l < "$T/A-$kind.loss") steps"
    first=$(head -1 "$T/A-$kind.loss" | cut -d' ' -f2)
    last=$(tail -1 "$T/A-$kind.loss" | cut -d' ' -f2)
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "$kind: loss did not fall ($first -> $last)"
    [ -s "$T/A-$kind/quant_state.safetensors" ] || fail "$kind: no quant_state.safetensors"
    echo "$kind: loss $first -> $last on the GPU"

    # B: the same run with a checkpoint at step 6, cut back to it, resumed
    "$LOWBIT" train "${ARGS[@]}" --wq "$wq" --out "$T/B-$kind" --save-every 6 --keep-ckpts 3 > /dev/null \
        2> "$T/B-$kind.err" || { tail -20 "$T/B-$kind.err"; fail "$kind: run B"; }
    [ -e "$T/B-$kind/ckpt-6.h5" ] || fail "$kind: no ckpt-6.h5"
    rm -rf "$T/B-$kind/ckpt-12.h5" "$T/B-$kind/model" "$T/B-$kind/quant_state.safetensors"
    "$LOWBIT" train --out "$T/B-$kind" --resume --device cuda > /dev/null 2> "$T/B2-$kind.err" ||
        { tail -20 "$T/B2-$kind.err"; fail "$kind: resume"; }
    grep -q "resumed from .*ckpt-6.h5" "$T/B2-$kind.err" || { tail "$T/B2-$kind.err"; fail "$kind: not resumed from step 6"; }
    lb_losses "$T/B-$kind/metrics.jsonl" > "$T/B-$kind.loss"
    diff "$T/A-$kind.loss" "$T/B-$kind.loss" > "$T/diff-$kind.txt" ||
        { head -20 "$T/diff-$kind.txt"; fail "$kind: losses differ after the resume on the GPU"; }
    cmp -s "$T/A-$kind/model/model.safetensors" "$T/B-$kind/model/model.safetensors" ||
        fail "$kind: final weights differ after the resume"
    cmp -s "$T/A-$kind/quant_state.safetensors" "$T/B-$kind/quant_state.safetensors" ||
        fail "$kind: quant state differs after the resume"
    echo "$kind: resumed from step 6 on the GPU: 12 identical losses, identical weights and quant state"

    # eval of the run dir on the GPU == the trainer's last eval
    logged=$(grep '"eval"' "$T/A-$kind/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
    "$LOWBIT" eval --model "$T/A-$kind" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --batch 1 --device cuda \
        --json > "$T/A-$kind.eval" 2> "$T/A-$kind.eval.err" || { cat "$T/A-$kind.eval.err"; fail "$kind: eval"; }
    got=$(sed -E 's/.*"ppl":([^,]*),.*/\1/' "$T/A-$kind.eval")
    [ "$got" = "$logged" ] || fail "$kind: eval of the GPU run dir gives ppl $got, the trainer logged $logged"
    echo "$kind: lowbit eval --device cuda of the run dir = the trainer's last eval (ppl $got)"
done

# KD on the GPU
"$LOWBIT" train "${ARGS[@]}" --wq int4:g32 --kd --kd-alpha 0.5 --out "$T/kd" > /dev/null 2> "$T/kd.err" ||
    { tail -20 "$T/kd.err"; fail "--kd on the GPU"; }
lb_losses "$T/kd/metrics.jsonl" > "$T/kd.loss"
awk '{ if ($2 != $2 + 0 || $2 == "nan" || $2 == "null") bad = 1 } END { exit bad }' "$T/kd.loss" ||
    fail "--kd: non-finite loss"
echo "kd: loss $(head -1 "$T/kd.loss" | cut -d' ' -f2) -> $(tail -1 "$T/kd.loss" | cut -d' ' -f2) on the GPU"
echo "ok"
