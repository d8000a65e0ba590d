#!/bin/bash
# test_logits_py.sh — lowbit's fp32 CPU logits against transformers on freshly
# made random-weight models (every case of scripts/parity/make_models.py:
# GQA, tied, qwen2 bias, llama3 rope, explicit head_dim with biases, the v5
# rope_parameters form, mistral, gpt2 with and without the prefix, a bf16
# checkpoint, a sharded one), several shapes, KV-cache decoding and greedy
# generation. The checks themselves are test_model_parity's (tolerances there).
#
# Env: LOWBIT (the lowbit binary: test_model_parity is beside it), LB_PY
# (python with torch + transformers; empty = skip), LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_need_py "torch, transformers, safetensors" "torch/transformers/safetensors"

PARITY="$(dirname "$LOWBIT")/test_model_parity"
[ -x "$PARITY" ] || { echo "missing $PARITY"; exit 1; }
OUT="$LB_TMP/logits_py"
rm -rf "$OUT" && mkdir -p "$OUT"

"$LB_PY" "$LB_SRC/scripts/parity/make_models.py" "$OUT" > "$OUT/cases.txt" 2> "$OUT/make.log" ||
    { cat "$OUT/make.log"; echo "make_models.py failed"; exit 1; }
mapfile -t CASES < "$OUT/cases.txt"
[ "${#CASES[@]}" -ge 10 ] || { echo "expected at least 10 cases, got ${#CASES[@]}"; exit 1; }
ls "$OUT"/llama_sharded/model-00001-of-*.safetensors > /dev/null ||
    { echo "the sharded case has no shards"; exit 1; }

"$PARITY" "${CASES[@]}"
