#!/bin/bash
# test_kquant_train_cli.sh — QAT with the llama.cpp K-quants through the CLI: `lowbit train
# --wq q4_k` on a model whose linears all have in = 256 or 512 (whole super-blocks) trains (the
# loss falls), `lowbit eval` of the run dir gives the trainer's last eval (the quantizers are
# re-created from quant_state.safetensors), and a model with in = 128 is refused with a message
# naming the layer, its shape and the 256 super-block (q6_k).
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir kquant_train_cli

cat > "$T/cfg.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
 "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
 "num_key_value_heads": 2, "vocab_size": 2048, "max_position_embeddings": 256,
 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu"}
JSON
lb_test_model "$T/cfg.json" "$T/m"
lb_test_corpus 8 "train on"
lb_test_data "$T/m" 0.2

"$LOWBIT" train --model "$T/m" --data "$T/d.h5" --steps 20 --batch 4 --ctx 32 --lr 3e-3 --warmup 2 \
    --eval-windows 4 --eval-every 10 --device cpu --wq q4_k --out "$T/r" --json > "$T/r.json" 2> "$T/r.err" ||
    { cat "$T/r.err"; fail "train --wq q4_k"; }
first=$(lb_mean_loss "$T/r/metrics.jsonl" 1 3)
last=$(lb_mean_loss "$T/r/metrics.jsonl" 16 20)
echo "q4_k QAT: mean loss of steps 1-3 $first, of steps 16-20 $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.0) }' || fail "q4_k: loss did not fall ($first -> $last)"
[ -s "$T/r/quant_state.safetensors" ] || fail "no quant_state.safetensors"
logged=$(grep '"eval"' "$T/r/metrics.jsonl" | tail -1 | sed -E 's/.*"ppl":([^,]*),.*/\1/')
"$LOWBIT" eval --model "$T/r" --data "$T/d.val.h5" --ctx 32 --max-windows 4 --device cpu --json \
    > "$T/eval.json" 2> /dev/null || fail "eval of the q4_k run dir"
got=$(sed -E 's/.*"ppl":([^,]*),.*/\1/' "$T/eval.json")
echo "eval of the run dir: ppl $got (trainer: $logged)"
[ "$got" = "$logged" ] || fail "eval of the run dir gives ppl $got, the trainer logged $logged"

lb_test_model llama-tiny "$T/tiny"
if "$LOWBIT" train --model "$T/tiny" --data "$T/d.h5" --steps 2 --batch 2 --ctx 16 --device cpu \
    --wq q6_k --out "$T/bad" > /dev/null 2> "$T/bad.err"; then fail "q6_k on in = 128 was accepted"; fi
grep -q "^lowbit: error: .*q_proj.weight: weight (128, 128): in = 128 is not a multiple of 256" "$T/bad.err" ||
    { cat "$T/bad.err"; fail "q6_k on in = 128: message lacks the layer, shape or 256"; }
echo "OK"
