#!/bin/bash
# test_quant_py.sh — lowbit's llama.cpp presets (q4_0 q4_1 q5_0 q5_1 q8_0) against
# llama.cpp's own Python reference (the gguf package: gguf.quants.quantize /
# dequantize): block bytes and dequantized values bit for bit, on random and
# adversarial weights; and int<b> min-max fake quant against a numpy version of
# the GPTQ / torchao formula. The checks are scripts/parity/quant_gguf_parity.py's.
#
# Env: LOWBIT (test_quant_ggml is beside it), LB_PY (python with numpy + gguf;
# empty = skip), LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_need_py "numpy, gguf.quants" "numpy/gguf"

DUMP="$(dirname "$LOWBIT")/test_quant_ggml"
[ -x "$DUMP" ] || { echo "missing $DUMP"; exit 1; }
OUT="$LB_TMP/quant_py"
rm -rf "$OUT" && mkdir -p "$OUT"
"$LB_PY" "$LB_SRC/scripts/parity/quant_gguf_parity.py" "$DUMP" "$OUT"
