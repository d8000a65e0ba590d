#!/bin/bash
# test_init_cli.sh — `lowbit init`: presets and JSON configs, determinism of
# --seed, dtypes, --tokenizer, the errors (unknown preset, bad JSON, existing
# non-empty --out without --force, leaving it untouched), and — with $LB_PY —
# that transformers loads what lowbit wrote and agrees on its logits
# (scripts/parity/expected_logits.py + test_model_parity).
#
# Env: LOWBIT, LB_PY (may be empty), LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir init_cli

# presets, parameter count printed, determinism
"$LOWBIT" init --config llama-tiny --out "$T/a" --seed 3 > "$T/a.txt" || fail "init llama-tiny"
grep -q "parameters" "$T/a.txt" || fail "no parameter count printed"
for f in config.json model.safetensors; do [ -s "$T/a/$f" ] || fail "missing $f"; done
"$LOWBIT" init --config llama-tiny --out "$T/b" --seed 3 > /dev/null || fail "init again"
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" || fail "same seed, different weights"
"$LOWBIT" init --config llama-tiny --out "$T/c" --seed 4 > /dev/null || fail "init seed 4"
cmp -s "$T/a/model.safetensors" "$T/c/model.safetensors" && fail "different seeds, same weights"
"$LOWBIT" init --config gpt2-tiny --out "$T/g" --dtype bf16 --json > "$T/g.json" || fail "init gpt2-tiny"
grep -q '"params": ' "$T/g.json" || fail "--json output lacks params"
grep -q '"torch_dtype": *"bfloat16"' "$T/g/config.json" || fail "bf16 not recorded in config.json"
"$LOWBIT" init --config llama-12m --out "$T/m12" --dtype bf16 > "$T/m12.txt" || fail "init llama-12m"
grep -Eq "1[0-9]{7} parameters" "$T/m12.txt" || { cat "$T/m12.txt"; fail "llama-12m is not ~12M parameters"; }

# an HF-style JSON config (qwen2: q/k/v bias)
cat > "$T/qwen2.json" <<'EOF'
{"model_type": "qwen2", "vocab_size": 300, "hidden_size": 48, "intermediate_size": 96,
 "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2,
 "max_position_embeddings": 128, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
 "tie_word_embeddings": true}
EOF
"$LOWBIT" init --config "$T/qwen2.json" --out "$T/q" --seed 1 > /dev/null || fail "init from JSON"
grep -q '"model_type": *"qwen2"' "$T/q/config.json" || fail "qwen2 model_type lost"

# --tokenizer: files copied, vocab from the tokenizer
TOK="$LB_SRC/assets/tokenizers/code-8k/tokenizer.json"
if [ -f "$TOK" ]; then
    "$LOWBIT" init --config llama-tiny --out "$T/tok" --tokenizer "$TOK" > /dev/null || fail "init --tokenizer"
    [ -f "$T/tok/tokenizer.json" ] || fail "tokenizer.json not copied"
    cmp -s "$TOK" "$T/tok/tokenizer.json" || fail "tokenizer.json changed in the copy"
    grep -q '"vocab_size": *8192' "$T/tok/config.json" || fail "vocab_size is not the tokenizer's"
    expect_error "smaller than the tokenizer" init --config llama-tiny --out "$T/tok2" --tokenizer "$TOK" --vocab-size 100
fi

# errors
expect_error "llama-tiny" init --config no-such-preset --out "$T/x"
echo '{"model_type": "llama", ' > "$T/bad.json"
expect_error "bad.json" init --config "$T/bad.json" --out "$T/x"
echo '{"model_type": "llama", "vocab_size": 10}' > "$T/short.json"
expect_error "hidden_size" init --config "$T/short.json" --out "$T/x"
expect_error "--config" init --out "$T/x"
[ -e "$T/x" ] && fail "a failed init left $T/x behind"
sum_before=$(cat "$T/a"/* | cksum)
expect_error "not empty" init --config gpt2-tiny --out "$T/a"
[ "$(cat "$T/a"/* | cksum)" = "$sum_before" ] || fail "a refused init changed the existing directory"
"$LOWBIT" init --config gpt2-tiny --out "$T/a" --force > /dev/null || fail "init --force"
grep -q '"model_type": *"gpt2"' "$T/a/config.json" || fail "--force did not replace the model"
ls "$T" | grep -q '\.tmp\.' && fail "temporary directory left behind"

# transformers loads what lowbit wrote, and agrees on the logits
if [ -n "${LB_PY:-}" ] && "$LB_PY" -c "import torch, transformers" 2> /dev/null; then
    PARITY="$(dirname "$LOWBIT")/test_model_parity"
    "$LB_PY" "$LB_SRC/scripts/parity/expected_logits.py" "$T/b" "$T/g" "$T/q" > "$T/py.txt" 2>&1 ||
        { cat "$T/py.txt"; fail "transformers could not load lowbit's checkpoints"; }
    "$PARITY" "$T/b" "$T/g" "$T/q" || fail "lowbit's checkpoints disagree with transformers"
else
    echo "LB_PY not set: transformers loading not checked"
fi
echo "ok"
