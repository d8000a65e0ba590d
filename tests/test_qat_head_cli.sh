#!/bin/bash
# test_qat_head_cli.sh — --quantize-head and --quantize-embeddings in
# lowbit train (CPU):
#   - untied Llama: --wq int4:g32 --quantize-head puts lm_head.weight through
#     the fake-quant (its scales/zeros are in quant_state.safetensors, the
#     first step's loss differs from the same QAT run without the flag) and
#     `lowbit eval --model RUN_DIR` gives exactly the trainer's last eval
#     (the head is restored and baked as trained);
#   - --quantize-embeddings likewise for the token embedding;
#   - a tied model (gpt2-tiny): --quantize-head alone is an error naming
#     --quantize-embeddings; with both, one quantizer serves the table for
#     both readers (the "lowbit_tied_head" entry) and eval == trainer;
#   - --quantize-head without --wq is an error.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir qat_head_cli
for cfg in llama-tiny gpt2-tiny; do
    lb_test_model $cfg "$T/$cfg"
done
lb_test_corpus 8 "train on"
lb_test_data "$T/llama-tiny" 0.2

ARGS=(--data "$T/d.h5" --steps 4 --batch 4 --ctx 32 --lr 3e-3 --warmup 1 --eval-windows 4 --device cpu --wq int4:g32)
first_loss() { grep -v '"eval"' "$1/metrics.jsonl" | head -1 | sed -E 's/.*"loss":([^,]*),.*/\1/'; }
# train_eval NAME MODEL [FLAGS]: a run whose eval of the run dir must equal its last logged eval
train_eval() {
    local name=$1 model=$2
    shift 2
    "$LOWBIT" train --model "$T/$model" "${ARGS[@]}" "$@" --out "$T/$name" > /dev/null 2> "$T/$name.err" ||
        { cat "$T/$name.err"; fail "train $name"; }
    local logged got
    logged=$(grep '"eval"' "$T/$name/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
    got=$("$LOWBIT" eval --model "$T/$name" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json \
          2> /dev/null | sed -E 's/.*"ppl":([^,]*),.*/\1/')
    [ -n "$got" ] && [ "$got" = "$logged" ] || fail "$name: eval of the run dir gives ppl '$got', the trainer logged $logged"
    "$LOWBIT" info "$T/$name/quant_state.safetensors" > "$T/$name.info" 2>&1 || fail "$name: info on quant_state"
}
train_eval plain llama-tiny
train_eval head llama-tiny --quantize-head
grep -q 'lm_head.weight.scales' "$T/head.info" || fail "head: no lm_head.weight.scales in quant_state"
grep -q 'lm_head.weight' "$T/plain.info" && fail "plain: quant_state names lm_head.weight"
[ "$(first_loss "$T/head")" != "$(first_loss "$T/plain")" ] || fail "--quantize-head did not change the first loss"
train_eval emb llama-tiny --quantize-embeddings
grep -q 'model.embed_tokens.weight.scales' "$T/emb.info" || fail "emb: no embedding scales in quant_state"
[ "$(first_loss "$T/emb")" != "$(first_loss "$T/plain")" ] || fail "--quantize-embeddings did not change the first loss"

expect_error "--quantize-embeddings" train --model "$T/gpt2-tiny" "${ARGS[@]}" --quantize-head --out "$T/e1"
train_eval tied gpt2-tiny --quantize-head --quantize-embeddings
grep -q 'lowbit_tied_head' "$T/tied.info" || { cat "$T/tied.info"; fail "tied: no lowbit_tied_head entry"; }
train_eval tiedemb gpt2-tiny --quantize-embeddings
[ "$(first_loss "$T/tied")" != "$(first_loss "$T/tiedemb")" ] || fail "tied: --quantize-head did not change the first loss"
expect_error "needs a weight spec" train --model "$T/llama-tiny" "${ARGS[@]/int4:g32/}" --quantize-head --out "$T/e2"
echo "PASS"
