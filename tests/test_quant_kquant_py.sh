#!/bin/bash
# test_quant_kquant_py.sh — lowbit's K-quant blocks (q4_k, q6_k) against llama.cpp's own Python
# reference (gguf.quants.dequantize): synthetic canonical super-blocks, and lowbit's fake-quant
# forward against the dequantized bytes it exports, bit for bit. The checks are
# scripts/parity/quant_kquant_parity.py's.
#
# Env: LOWBIT (test_quant_kquant is beside it), LB_PY (python with numpy + gguf; empty = skip),
# LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_need_py "numpy, gguf.quants" "numpy/gguf"

DUMP="$(dirname "$LOWBIT")/test_quant_kquant"
[ -x "$DUMP" ] || { echo "missing $DUMP"; exit 1; }
OUT="$LB_TMP/quant_kquant_py"
rm -rf "$OUT" && mkdir -p "$OUT"
"$LB_PY" "$LB_SRC/scripts/parity/quant_kquant_parity.py" "$DUMP" "$OUT"
