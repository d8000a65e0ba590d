#!/bin/bash
# test_gpu_gptq_cli.sh — a GPTQ dir on the GPU through the command line:
# `lowbit eval --device cuda` of a GPTQ export (linears kept packed on the
# device, decoded to bf16 per layer by kernels/cuda/packed_gptq.cu) gives
# the CPU's perplexity of the same dir within the bf16 budget (2e-2
# relative: bf16 activations and weights against the fp32 CPU path, as the
# other GPU-vs-CPU model checks), for a v1 int4 g32 and a v2 int3
# per-channel export; `lowbit generate --device cuda` from it runs.
# Skipped (77) without a usable GPU.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gpu_gptq

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "evaluate on"
lb_test_data "$T/m" 0.3

# no GPU (or a build without CUDA): skipped
lb_gpu_probe_or_skip "$T/m"

ppl() { # ppl MODEL DEVICE
    "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 64 --max-windows 8 --device "$2" --json 2> "$T/eval.err" |
        sed -E 's/.*"ppl":([^,]*),.*/\1/' || { cat "$T/eval.err"; fail "eval $1 on $2"; }
}
for c in int4:g32:asym:v1 int3:ch:asym:v2; do
    spec=${c%:*} fmt=${c##*:} name=$(echo "$c" | tr ':' '_')
    "$LOWBIT" ptq --method rtn --wq "$spec" --model "$T/m" --out "$T/$name" > /dev/null || fail "ptq $spec"
    "$LOWBIT" export --model "$T/$name" --format gptq --gptq-format "$fmt" --out "$T/$name.gptq" > /dev/null 2>&1 ||
        fail "export $c"
    cpu=$(ppl "$T/$name.gptq" cpu) gpu=$(ppl "$T/$name.gptq" cuda)
    echo "$c: ppl cpu $cpu, cuda $gpu"
    awk -v a="$cpu" -v b="$gpu" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 2e-2 * a) }' ||
        fail "$c: cuda ppl $gpu is not within 2e-2 of the CPU's $cpu"
    "$LOWBIT" generate --model "$T/$name.gptq" --prompt "def main" --max-tokens 8 --device cuda --json \
        > "$T/gen.json" 2> "$T/gen.err" || { cat "$T/gen.err"; fail "generate --device cuda from $c"; }
    grep -q '"text"' "$T/gen.json" || fail "generate $c: no text"
done
echo "test_gpu_gptq_cli: all passed"
