#!/bin/bash
# test_gptq_cli.sh — `lowbit export --format gptq|hf` and GPTQ dirs in eval /
# generate, end to end on llama-tiny: a QAT int4 run with --quantize-head
# (lm_head packed too) and RTN runs (int3 v2, int8 per channel) exported to
# GPTQ give the run's perplexity to 1e-4
# relative (the quantized linears are bit-exact; the rest is f16 in the
# file); generate and info read the GPTQ dir; the hf export evaluates too;
# runs on grids GPTQ cannot hold are refused with the flag to pass (--wq),
# which then works; bad flags and GPTQ dirs whose config disagrees with the
# tensors fail with a clear "lowbit: error:".
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gptq_cli
ppl() { # ppl MODEL: the eval ppl on the validation split
    "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 64 --max-windows 8 --device cpu --json 2> "$T/eval.err" |
        sed -E 's/.*"ppl":([^,]*),.*/\1/' || { cat "$T/eval.err"; fail "eval $1"; }
}
agree() { # agree A B WHAT: |a - b| <= 1e-4 * a
    awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-4 * a) }' ||
        fail "$3: ppl $1 vs $2 differ by more than 1e-4 relative"
    echo "$3: ppl $1 vs $2"
}

lb_test_model llama-tiny "$T/m"
lb_test_corpus 8 "evaluate on"
lb_test_data "$T/m" 0.3

# a short QAT run with a quantized head (written packed: "lm_head": true)
"$LOWBIT" train --model "$T/m" --data "$T/d.h5" --steps 6 --batch 2 --ctx 32 --lr 3e-3 --warmup 1 --eval-windows 2 \
    --device cpu --wq int4:g32:sym --quantize-head --out "$T/qat" > /dev/null 2> "$T/train.err" ||
    { cat "$T/train.err"; fail "train"; }
"$LOWBIT" ptq --method rtn --wq int3:g64:asym --model "$T/m" --out "$T/rtn3" > /dev/null || fail "ptq int3"
"$LOWBIT" ptq --method rtn --wq int8:ch:asym:mse --model "$T/m" --out "$T/rtn8" > /dev/null || fail "ptq int8"
"$LOWBIT" ptq --method rtn --wq nf4:g32 --model "$T/m" --out "$T/nf4" > /dev/null || fail "ptq nf4"

for run in qat:v1 rtn3:v2 rtn8:v2; do
    name=${run%%:*} fmt=${run##*:}
    "$LOWBIT" export --model "$T/$name" --format gptq --gptq-format "$fmt" --out "$T/$name.gptq" \
        > "$T/export.out" 2> "$T/export.err" || { cat "$T/export.err"; fail "export $name"; }
    grep -q "lossless" "$T/export.out" || fail "export $name: no summary line"
    grep -q "bits per weight" "$T/export.err" || fail "export $name: no GPTQ summary"
    for f in config.json quantize_config.json model.safetensors tokenizer.json; do
        [ -s "$T/$name.gptq/$f" ] || fail "export $name: $f missing"
    done
    want=gptq; [ "$fmt" = v2 ] && want=gptq_v2
    grep -q "\"checkpoint_format\":[[:space:]]*\"$want\"" "$T/$name.gptq/quantize_config.json" ||
        fail "export $name: checkpoint_format is not $want"
    agree "$(ppl "$T/$name")" "$(ppl "$T/$name.gptq")" "$name -> gptq $fmt"
done

# info names the GPTQ settings
"$LOWBIT" info "$T/qat.gptq" > "$T/info.txt" 2>&1 || fail "info of the GPTQ dir"
grep -q "^gptq: *4-bit, group_size 32, sym, checkpoint_format gptq," "$T/info.txt" || { cat "$T/info.txt"; fail "info: no gptq line"; }
"$LOWBIT" info "$T/rtn3.gptq" --json | grep -q '"gptq":{"bits":3' || fail "info --json: no gptq object"

grep -q '"lm_head":[[:space:]]*true' "$T/qat.gptq/quantize_config.json" || fail "qat export: lm_head is not true"
grep -q '"lm_head":[[:space:]]*false' "$T/rtn3.gptq/quantize_config.json" || fail "rtn3 export: lm_head is not false"

# generate reads the GPTQ dir (packed linears, its tokenizer)
"$LOWBIT" generate --model "$T/qat.gptq" --prompt "def main" --max-tokens 8 --device cpu --json > "$T/gen.json" \
    2> "$T/gen.err" || { cat "$T/gen.err"; fail "generate from the GPTQ dir"; }
grep -q '"text"' "$T/gen.json" || { cat "$T/gen.json"; fail "generate: no text"; }

# --format hf: a plain checkpoint of w^ (f32: the run's forward exactly)
"$LOWBIT" export --model "$T/rtn3" --format hf --dtype f32 --out "$T/rtn3.hf" > /dev/null 2>&1 || fail "export hf"
agree "$(ppl "$T/rtn3")" "$(ppl "$T/rtn3.hf")" "rtn3 -> hf f32"
"$LOWBIT" export --model "$T/qat" --format hf --out "$T/qat.hf16" > /dev/null 2>&1 || fail "export hf f16"
grep -q '"torch_dtype":[[:space:]]*"float16"' "$T/qat.hf16/config.json" || fail "hf export: torch_dtype is not float16"

# grids GPTQ cannot hold: refused with the flag to pass, which works
expect_error "--wq int4" export --model "$T/nf4" --format gptq --out "$T/x.gptq"
"$LOWBIT" export --model "$T/nf4" --format gptq --wq int4:g32 --out "$T/nf4.gptq" > /dev/null 2>&1 ||
    fail "export --wq int4:g32 of an nf4 run"
expect_error "--wq" export --model "$T/m" --format gptq --out "$T/x.gptq"
"$LOWBIT" export --model "$T/m" --format gptq --wq int2:g32:sym --out "$T/m.gptq" > /dev/null 2>&1 ||
    fail "export --wq of an HF dir"
expect_error "--gptq-format must be v1" export --model "$T/rtn3" --format gptq --gptq-format v3 --out "$T/x.gptq"
expect_error "--format must be gguf, gptq or hf" export --model "$T/rtn3" --format awq --out "$T/x"
expect_error "--dtype must be f16, bf16 or f32" export --model "$T/rtn3" --format hf --dtype f8 --out "$T/x"

# GPTQ dirs whose config disagrees with the tensors
bad() { # bad NAME SED: a copy of qat.gptq with SED applied to quantize_config.json
    rm -rf "$T/$1" && cp -r "$T/qat.gptq" "$T/$1" && sed -i -E "$2" "$T/$1/quantize_config.json"
}
bad bits8 's/"bits":[[:space:]]*4/"bits": 8/'
expect_error "qweight' has shape" eval --model "$T/bits8" --data "$T/d.val.h5" --ctx 64 --device cpu
bad bits5 's/"bits":[[:space:]]*4/"bits": 5/'
expect_error "must be 2, 3, 4 or 8" eval --model "$T/bits5" --data "$T/d.val.h5" --ctx 64 --device cpu
bad group 's/"group_size":[[:space:]]*32/"group_size": 64/'
expect_error "qzeros' has shape" generate --model "$T/group" --prompt hi --device cpu
bad marlin 's/"checkpoint_format":[[:space:]]*"gptq"/"checkpoint_format": "marlin"/'
expect_error '"marlin"' eval --model "$T/marlin" --data "$T/d.val.h5" --ctx 64 --device cpu
rm -rf "$T/layers" && cp -r "$T/qat.gptq" "$T/layers" &&
    sed -i -E 's/"num_hidden_layers":[[:space:]]*2/"num_hidden_layers": 1/' "$T/layers/config.json"
expect_error "not part of the model" eval --model "$T/layers" --data "$T/d.val.h5" --ctx 64 --device cpu
echo "test_gptq_cli: all passed"
