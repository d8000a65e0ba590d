#!/bin/bash
# test_gguf_py.sh — lowbit's GGUF exports against llama.cpp's own reader, the
# gguf Python package: every type's tensor dequantized by gguf.quants.dequantize
# equals lowbit's fake-quant weights (test_gguf --write), and exports made by
# `lowbit export` (rtn runs of each 32-block grid, a q4_k/q6_k HF export, gpt2)
# are readable with llama.cpp's metadata types, their linears byte-identical with
# gguf.quants.quantize where gguf-py can quantize (scripts/parity/gguf_export_parity.py).
#
# Env: LOWBIT (test_gguf is beside it), LB_PY (python with numpy, gguf,
# safetensors; empty = skip), LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_need_py "numpy, gguf.quants, safetensors.numpy" "numpy/gguf/safetensors"
lb_test_dir gguf_py
CHECK="$LB_SRC/scripts/parity/gguf_export_parity.py"
WRITER="$(dirname "$LOWBIT")/test_gguf"
[ -x "$WRITER" ] || fail "missing $WRITER"
"$WRITER" --write "$T" || fail "test_gguf --write"
"$LB_PY" "$CHECK" types "$T/types.gguf" "$T/expected.gguf" || fail "types"

lb_test_cfg256 "$T/cfg.json"
lb_test_model "$T/cfg.json" "$T/m" --seed 4
for q in q4_0 q4_1 q5_0 q5_1 q8_0; do
    "$LOWBIT" ptq --method rtn --wq "$q" --model "$T/m" --out "$T/rtn_$q" > /dev/null || fail "ptq $q"
    "$LOWBIT" export --model "$T/rtn_$q" --format gguf --type "$q" --out "$T/rtn_$q.gguf" --quiet > /dev/null ||
        fail "export $q"
    "$LB_PY" "$CHECK" model "$T/rtn_$q.gguf" "$T/rtn_$q/model" "$q" || fail "$q"
done
for q in q4_k q6_k bf16; do
    "$LOWBIT" export --model "$T/m" --format gguf --type "$q" --out "$T/m_$q.gguf" --quiet > /dev/null || fail "export $q"
    "$LB_PY" "$CHECK" model "$T/m_$q.gguf" "$T/m" "$q" || fail "$q"
done
lb_test_model gpt2-tiny "$T/g"
"$LOWBIT" export --model "$T/g" --format gguf --type q8_0 --out "$T/g.gguf" --quiet > /dev/null || fail "export gpt2"
"$LB_PY" "$CHECK" model "$T/g.gguf" "$T/g" q8_0 || fail "gpt2"
echo "test_gguf_py: ok"
