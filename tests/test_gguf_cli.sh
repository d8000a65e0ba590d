#!/bin/bash
# test_gguf_cli.sh — `lowbit export --format gguf` and .gguf models end to end
# on the CPU: perplexity of a PTQ run (rtn q4_0) and of a 3-step QAT run
# (q4_k) agrees with the perplexity of their GGUF exports to 1e-4 relative
# (lowbit's promise; in fact bit for bit); generate and info read a .gguf;
# an HF dir exports with the reference quantizer; rows that do not fit a
# block fall back to F16 and the command says so; bad files and flags give
# clear errors and a non-zero exit.
#
# Env: LOWBIT, LB_SRC, LB_TMP.
set -u
. "$LB_SRC/tests/lib.sh"
lb_test_dir gguf_cli
ppl() { # ppl MODEL: perplexity of MODEL on the validation split
    "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 32 --max-windows 6 --device cpu --json 2> "$T/eval.err" |
        sed -E 's/.*"ppl":([^,]*),.*/\1/'
}
same_ppl() { # same_ppl A B LABEL: |A - B| <= 1e-4 * |A|
    awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-4 * a) }' ||
        fail "$3: ppl $1 vs $2 (more than 1e-4 relative apart)"
    echo "$3: ppl $1 (run) vs $2 (gguf)"
}

# hidden 256 so that q4_k's super-blocks of 256 fit the rows
lb_test_cfg256 "$T/cfg.json"
lb_test_model "$T/cfg.json" "$T/m" --seed 3
lb_test_corpus 8 "use as data"
lb_test_data "$T/m" 0.3

# PTQ q4_0: the run's codes, losslessly
"$LOWBIT" ptq --method rtn --wq q4_0 --model "$T/m" --out "$T/rtn" > /dev/null || fail "ptq"
"$LOWBIT" export --model "$T/rtn" --format gguf --type q4_0 --out "$T/rtn.gguf" > "$T/export.txt" 2>&1 ||
    { cat "$T/export.txt"; fail "export rtn q4_0"; }
grep -q "14 written losslessly" "$T/export.txt" || { cat "$T/export.txt"; fail "export: not every linear lossless"; }
grep -q "MiB on disk" "$T/export.txt" && grep -q "bits per weight" "$T/export.txt" || fail "export: no size / bpw"
same_ppl "$(ppl "$T/rtn")" "$(ppl "$T/rtn.gguf")" "rtn q4_0"

# QAT q4_k, 3 steps
"$LOWBIT" train --model "$T/m" --data "$T/d.h5" --steps 3 --batch 2 --ctx 32 --lr 1e-3 --wq q4_k --device cpu \
    --out "$T/qat" > /dev/null 2> "$T/train.err" || { cat "$T/train.err"; fail "train --wq q4_k"; }
"$LOWBIT" export --model "$T/qat" --format gguf --type q4_k --out "$T/qat.gguf" --json > "$T/export.json" ||
    fail "export qat q4_k"
grep -q '"lossless": 14' "$T/export.json" || { cat "$T/export.json"; fail "export q4_k: not every linear lossless"; }
same_ppl "$(ppl "$T/qat")" "$(ppl "$T/qat.gguf")" "qat q4_k"

# a plain HF dir: the reference quantizer; generate and info from the file alone
"$LOWBIT" export --model "$T/m" --format gguf --type q6_k --out "$T/m.gguf" > /dev/null 2>&1 || fail "export HF q6_k"
"$LOWBIT" generate --model "$T/m.gguf" --prompt "def main(argv):" --max-tokens 8 --temperature 0 --device cpu \
    > "$T/gen.txt" 2> "$T/gen.err" || { cat "$T/gen.err"; fail "generate from a .gguf"; }
[ -s "$T/gen.txt" ] || fail "generate printed nothing"
"$LOWBIT" info "$T/m.gguf" > "$T/info.txt" || fail "info"
grep -q "tokenizer.ggml.merges" "$T/info.txt" && grep -q "Q6_K" "$T/info.txt" || fail "info lacks merges / Q6_K"
"$LOWBIT" info "$T/m.gguf" --json | grep -q '"kind":[[:space:]]*"gguf"' || fail "info --json"

# rows of 256 fit q4_0 blocks but a 48-wide model does not: F16 fallback, said
sed -e 's/"hidden_size": 256/"hidden_size": 48/' -e 's/"intermediate_size": 512/"intermediate_size": 96/' \
    "$T/cfg.json" > "$T/cfg48.json"
lb_test_model "$T/cfg48.json" "$T/m48"
"$LOWBIT" export --model "$T/m48" --format gguf --type q4_0 --out "$T/m48.gguf" > "$T/fb.txt" 2>&1 || fail "export 48"
grep -q "written as F16" "$T/fb.txt" || { cat "$T/fb.txt"; fail "no fallback notice"; }
"$LOWBIT" eval --model "$T/m48.gguf" --data "$T/d.val.h5" --ctx 32 --max-windows 2 --device cpu > /dev/null 2>&1 ||
    fail "eval of the fallback file"

# bad input
head -c 1000 "$T/rtn.gguf" > "$T/trunc.gguf"
expect_error "truncated" eval --model "$T/trunc.gguf" --data "$T/d.val.h5" --device cpu
expect_error "truncated" info "$T/trunc.gguf"
printf 'GGML' | cat - <(tail -c +5 "$T/rtn.gguf") > "$T/magic.gguf"
expect_error "magic" info "$T/magic.gguf"
cp "$T/rtn.gguf" "$T/v4.gguf" && printf '\x04' | dd of="$T/v4.gguf" bs=1 seek=4 conv=notrunc 2> /dev/null
expect_error "version 4" eval --model "$T/v4.gguf" --data "$T/d.val.h5" --device cpu
expect_error "--type must be" export --model "$T/rtn" --format gguf --type q3_k --out "$T/x.gguf"
expect_error "--format must be" export --model "$T/rtn" --format ggml --type q4_0 --out "$T/x.gguf"
[ -e "$T/x.gguf" ] && fail "a failed export left a file"
echo "test_gguf_cli: ok"
