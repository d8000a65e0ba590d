#!/bin/bash
# test_gpu_gguf_cli.sh — a .gguf model on the GPU through the command line:
# `lowbit eval --device cuda` of GGUF exports (every 2-D weight kept packed on
# the device, decoded to bf16 per use by kernels/cuda/packed_ggml.cu, the
# embedding by token rows) gives the CPU's perplexity of the same file within
# the bf16 budget (2e-2 relative: bf16 activations and weights against the
# fp32 CPU path, as the other GPU-vs-CPU model checks), for a q4_0 run export
# (llama), a q4_k/q6_k HF export and a q8_0 gpt2 export; `lowbit generate
# --device cuda` from a .gguf runs. Skipped (77) without a usable GPU.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gpu_gguf
lb_test_cfg256 "$T/cfg.json"
lb_test_model "$T/cfg.json" "$T/m"
lb_test_model gpt2-tiny "$T/g"
lb_test_corpus 8 "evaluate on"
lb_test_data "$T/m" 0.3

# no GPU (or a build without CUDA): skipped
lb_gpu_probe_or_skip "$T/m"

"$LOWBIT" ptq --method rtn --wq q4_0 --model "$T/m" --out "$T/rtn" > /dev/null || fail "ptq"
"$LOWBIT" export --model "$T/rtn" --format gguf --type q4_0 --out "$T/rtn_q4_0.gguf" --quiet > /dev/null || fail "export"
for q in q4_k q6_k; do
    "$LOWBIT" export --model "$T/m" --format gguf --type "$q" --out "$T/m_$q.gguf" --quiet > /dev/null || fail "export $q"
done
"$LOWBIT" export --model "$T/g" --format gguf --type q8_0 --out "$T/g_q8_0.gguf" --quiet > /dev/null || fail "export gpt2"

ppl() { # ppl MODEL DEVICE
    "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 64 --max-windows 8 --device "$2" --json 2> "$T/eval.err" |
        sed -E 's/.*"ppl":([^,]*),.*/\1/' || { cat "$T/eval.err"; fail "eval $1 on $2"; }
}
for f in rtn_q4_0 m_q4_k m_q6_k g_q8_0; do
    cpu=$(ppl "$T/$f.gguf" cpu) gpu=$(ppl "$T/$f.gguf" cuda)
    echo "$f.gguf: ppl cpu $cpu, cuda $gpu"
    awk -v a="$cpu" -v b="$gpu" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 2e-2 * a) }' ||
        fail "$f: cuda ppl $gpu is not within 2e-2 of the CPU's $cpu"
done
"$LOWBIT" generate --model "$T/rtn_q4_0.gguf" --prompt "def main" --max-tokens 8 --device cuda --json \
    > "$T/gen.json" 2> "$T/gen.err" || { cat "$T/gen.err"; fail "generate --device cuda from a .gguf"; }
grep -q '"text"' "$T/gen.json" || fail "generate: no text"
echo "test_gpu_gguf_cli: all passed"
