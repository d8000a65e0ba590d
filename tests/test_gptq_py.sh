#!/bin/bash
# test_gptq_py.sh — GPTQ against a reference reader and writer in Python
# (scripts/parity/gptq_parity.py: AutoGPTQ's unpacking and packing written
# from FORMATS.md §3 in numpy/torch) and transformers:
#   1. lowbit's GPTQ exports (2/3/4/8 bits, sym/asym, g32/g64/per channel,
#      per tensor, v1 and v2) dequantize, in Python, to exactly the
#      weights of lowbit's `export --format hf --dtype f32` of the same run
#      (the forward's w^), with the configs and tensor layouts of §3.1/§3.7;
#   2. checkpoints written the way other tools write them (act-order with a
#      random g_idx, v2 zeros including 0, v1, a group size that does not
#      divide the inputs, configs split across the two files, a quantized
#      lm_head in a file named as AutoGPTQ names it) load in lowbit with the
#      linears packed and give transformers' fp32 logits of the dequantized
#      model within 1e-4 and its greedy tokens (test_gptq_load DIR);
#   3. transformers loads the `--format hf` export (f16) as a plain model and
#      gives lowbit's logits (test_model_parity on it, as test_logits_py.sh);
#   4. files edited in Python: a model whose weight group has no negative
#      value (asymmetric zero 0) is refused by the v1 export with a pointer
#      to --gptq-format v2, which writes it; a GPTQ dir missing a tensor
#      fails to load. Both exit 1 with "lowbit: error:".
#
# Env: LOWBIT (test_gptq_load and test_model_parity are beside it), LB_PY (python
# with torch + transformers + safetensors + numpy; empty = skip), LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_need_py "torch, transformers, safetensors, numpy" "torch/transformers/safetensors/numpy"
BIN="$(dirname "$LOWBIT")"
lb_test_dir gptq_py
PY="$LB_SRC/scripts/parity/gptq_parity.py"

lb_test_model llama-tiny "$T/m"
pairs=()
for c in int4:g32:asym:v1 int3:g64:asym:v2 int2:ch:sym:v1 int8:g32:asym:v2 int4:tensor:sym:v2; do
    spec=${c%:*} fmt=${c##*:} name=$(echo "$c" | tr ':' '_')
    "$LOWBIT" ptq --method rtn --wq "$spec" --model "$T/m" --out "$T/$name" > /dev/null || fail "ptq $spec"
    "$LOWBIT" export --model "$T/$name" --format gptq --gptq-format "$fmt" --out "$T/$name.gptq" > /dev/null 2>&1 ||
        fail "export gptq $c"
    "$LOWBIT" export --model "$T/$name" --format hf --dtype f32 --out "$T/$name.hf" > /dev/null 2>&1 ||
        fail "export hf $c"
    pairs+=("$T/$name.gptq" "$T/$name.hf")
done
"$LB_PY" "$PY" check "${pairs[@]}" || fail "lowbit's GPTQ exports do not dequantize to its weights"

mapfile -t CASES < <("$LB_PY" "$PY" cases "$T/other" 2> "$T/cases.log") || { cat "$T/cases.log"; fail "gptq_parity.py cases"; }
[ "${#CASES[@]}" -eq 5 ] || { cat "$T/cases.log"; fail "expected 5 written checkpoints, got ${#CASES[@]}"; }
"$BIN/test_gptq_load" "${CASES[@]}" || fail "lowbit's load of other tools' GPTQ checkpoints differs from transformers"

"$LOWBIT" export --model "$T/int4_g32_asym_v1" --format hf --out "$T/hf16" > /dev/null 2>&1 || fail "export hf f16"
"$LB_PY" "$LB_SRC/scripts/parity/expected_logits.py" "$T/hf16" > "$T/expected.log" 2>&1 ||
    { cat "$T/expected.log"; fail "transformers could not load the --format hf export"; }
"$BIN/test_model_parity" "$T/hf16" || fail "lowbit's logits of the hf export differ from transformers'"
cp -r "$T/m" "$T/pos"
"$LB_PY" - "$T/pos/model.safetensors" "$T/int4_g32_asym_v1.gptq/model.safetensors" <<'PYEOF' || fail "editing files"
import sys
from safetensors.numpy import load_file, save_file
sd = load_file(sys.argv[1])
w = sd["model.layers.1.mlp.up_proj.weight"]
w[3, :32] = abs(w[3, :32]) + 1e-3   # row 3, group 0: no negative value -> zero 0
save_file(sd, sys.argv[1], metadata={"format": "pt"})
sd = load_file(sys.argv[2])
del sd["model.layers.0.mlp.down_proj.qzeros"]
save_file(sd, sys.argv[2], metadata={"format": "pt"})
PYEOF
expect_error "--gptq-format v2" export --model "$T/pos" --format gptq --wq int4:g32:asym --out "$T/pos.gptq"
grep -q "zero point 0" "$T/err.txt" || fail "v1 refusal does not say why"
"$LOWBIT" export --model "$T/pos" --format gptq --wq int4:g32:asym --gptq-format v2 --out "$T/pos.gptq" \
    > /dev/null 2>&1 || fail "v2 export of a zero-0 model"
expect_error "down_proj.qzeros' is missing" generate --model "$T/int4_g32_asym_v1.gptq" --prompt hi --device cpu
echo "test_gptq_py: all passed"
