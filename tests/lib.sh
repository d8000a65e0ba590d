# tests/lib.sh — the set-up the shell tests share; sourced, never run:
#   . "$LB_SRC/tests/lib.sh"
#   lb_test_dir NAME                       T=$LB_TMP/NAME, emptied
#   lb_test_model CONFIG OUT [INIT ARGS]   lowbit init with the code-8k tokenizer
#   lb_test_cfg256 FILE                    a Llama config.json whose rows fit super-blocks of 256
#   lb_test_corpus COUNT PURPOSE           the first COUNT Python files of scripts/ into $T/docs
#   lb_test_data TOKENIZER VAL_FRACTION    lowbit data over $T/docs into $T/d.h5 (+ $T/d.val.h5)
#   lb_gpu_probe_or_skip MODEL             exit 77 unless MODEL evaluates on --device cuda
#   lb_need_py IMPORTS WHAT                exit 77 unless $LB_PY imports IMPORTS
#   fail MSG / expect_error NEEDLE ARGS... / lb_losses FILE / lb_mean_loss FILE FIRST LAST
#
# Env (from CMakeLists.txt): LOWBIT, LB_SRC, LB_TMP, LB_PY (may be empty).
# A failure prints "FAIL: ..." and exits 1; a missing prerequisite exits 77
# (ctest reports it as skipped).

LB_TEST_TOKENIZER="$LB_SRC/assets/tokenizers/code-8k"

# fail MSG: the test fails with MSG.
fail() { echo "FAIL: $*"; exit 1; }

# expect_error NEEDLE ARGS...: `lowbit ARGS` exits non-zero, prints a
# "lowbit: error: " line, and its stderr contains NEEDLE ($T/out.txt and
# $T/err.txt keep the output).
expect_error() {
    local needle="$1"; shift
    if "$LOWBIT" "$@" > "$T/out.txt" 2> "$T/err.txt"; then fail "lowbit $* succeeded"; fi
    grep -q -- "$needle" "$T/err.txt" || { cat "$T/err.txt"; fail "lowbit $*: message lacks '$needle'"; }
    grep -q "^lowbit: error: " "$T/err.txt" || fail "lowbit $*: no 'lowbit: error:' line"
}

# lb_test_dir NAME: sets T to $LB_TMP/NAME and makes it an empty directory.
lb_test_dir() {
    T="$LB_TMP/$1"
    rm -rf "$T" && mkdir -p "$T" || fail "cannot make $T"
}

# lb_test_model CONFIG OUT [ARGS...]: `lowbit init --config CONFIG` with the
# code-8k tokenizer into OUT (extra init ARGS passed on); fails the test if
# init does.
lb_test_model() {
    local config="$1" out="$2"
    shift 2
    "$LOWBIT" init --config "$config" --tokenizer "$LB_TEST_TOKENIZER" --out "$out" "$@" > /dev/null ||
        fail "init $config"
}

# lb_test_cfg256 FILE: writes an HF config.json for a 2-layer Llama of
# hidden 256 (so q4_k/q6_k super-blocks of 256 fit the rows), intermediate
# 512, vocab 8192 (code-8k), 4 heads, 2 kv heads, untied.
lb_test_cfg256() {
    cat > "$1" << 'JSON'
{"model_type": "llama", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
 "rope_theta": 10000.0, "tie_word_embeddings": false}
JSON
}

# lb_test_corpus COUNT PURPOSE: copies the first COUNT Python files of
# scripts/ (sorted) to $T/docs/doc<i>.txt; fewer than 2 skips the test ("no
# Python files to PURPOSE").
lb_test_corpus() {
    local i=0 f
    mkdir -p "$T/docs"
    for f in $(find "$LB_SRC/scripts" -name '*.py' | sort | head -"$1"); do
        cp "$f" "$T/docs/doc$i.txt"
        i=$((i + 1))
    done
    [ "$i" -ge 2 ] || { echo "no Python files to $2"; exit 77; }
}

# lb_test_data TOKENIZER VAL_FRACTION: `lowbit data` over $T/docs/*.txt with
# the tokenizer of model dir TOKENIZER into $T/d.h5 (and $T/d.val.h5 when
# VAL_FRACTION > 0).
lb_test_data() {
    "$LOWBIT" data $(for f in "$T"/docs/*.txt; do printf -- '--input %s ' "$f"; done) --tokenizer "$1" \
        --out "$T/d.h5" --val-fraction "$2" > /dev/null 2>&1 || fail "data"
}

# lb_gpu_probe_or_skip MODEL: exits 77 (skipped) unless MODEL evaluates one
# window of $T/d.val.h5 on --device cuda (no GPU, or a build without CUDA).
lb_gpu_probe_or_skip() {
    if ! "$LOWBIT" eval --model "$1" --data "$T/d.val.h5" --ctx 32 --max-windows 1 --device cuda --json \
        > /dev/null 2> "$T/probe.err"; then
        echo "no usable CUDA device: $(tail -1 "$T/probe.err"): skipped"
        exit 77
    fi
}

# lb_need_py IMPORTS WHAT: exits 77 unless $LB_PY is set and runs
# "import IMPORTS" (WHAT names them in the message).
lb_need_py() {
    [ -n "${LB_PY:-}" ] || { echo "LB_PY is empty: no reference python, skipping"; exit 77; }
    "$LB_PY" -c "import $1" 2> /dev/null || { echo "$LB_PY lacks $2, skipping"; exit 77; }
}

# lb_losses FILE: the "step loss" pairs of a metrics.jsonl, the loss printed
# exactly as written (eval lines left out).
lb_losses() { grep -v '"eval"' "$1" | sed -E 's/.*"step":([0-9]+),"loss":([^,]*),.*/\1 \2/'; }

# lb_mean_loss FILE FIRST LAST: the mean loss of steps FIRST..LAST of a
# metrics.jsonl, to 4 decimals.
lb_mean_loss() {
    lb_losses "$1" | awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { s += $2; n++ } END { printf "%.4f", s / n }'
}
