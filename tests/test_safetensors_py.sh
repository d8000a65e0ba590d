#!/bin/bash
# test_safetensors_py.sh — lowbit's safetensors I/O against the Python
# reference (safetensors, huggingface_hub, transformers):
#   1. files lowbit writes (test_safetensors_rt --write-fixtures) are
#      byte-identical to Python's save_file for the same tensors, and a
#      sharded directory matches huggingface_hub's split and save_pretrained's
#      index byte for byte;
#   2. `lowbit info --json` on files Python wrote (every dtype torch has, no
#      metadata, hub shards, a transformers save_pretrained dir) lists the
#      same names, dtypes and shapes;
#   3. `lowbit info` on bad files and bad command lines fails with
#      "lowbit: error:".
# Skipped (77) without LB_PY or its libraries.
set -u
: "${LOWBIT:?}" "${LB_SRC:?}" "${LB_TMP:=/tmp}"
if [ -z "${LB_PY:-}" ]; then echo "skip: LB_PY is empty"; exit 77; fi
if ! "$LB_PY" -c "import safetensors, numpy, torch, huggingface_hub, transformers" 2>/dev/null; then
    echo "skip: $LB_PY lacks safetensors/numpy/torch/huggingface_hub/transformers"; exit 77
fi
CHECK="$LB_SRC/scripts/parity/safetensors_check.py"
RT="$(dirname "$LOWBIT")/test_safetensors_rt"
T="$LB_TMP/safetensors_py.$$"
rm -rf "$T" && mkdir -p "$T/lb" "$T/py" || exit 1
trap 'rm -rf "$T"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. lowbit-written files vs Python's writer
if [ ! -x "$RT" ]; then
    fail "$RT not built"
elif ! "$RT" --write-fixtures "$T/lb"; then
    fail "test_safetensors_rt --write-fixtures failed"
else
    "$LB_PY" "$CHECK" fixtures "$T/lb" || fail "lowbit's files differ from Python's"
    # and lowbit reads back its own files
    for p in "$T/lb/fx_numpy.safetensors" "$T/lb/fx_torch.safetensors" "$T/lb/fx_ckpt"; do
        "$LOWBIT" info "$p" > /dev/null || fail "lowbit info $p"
    done
fi

# 2. Python-written files through lowbit info --json
if "$LB_PY" "$CHECK" write "$T/py"; then
    for key in py_torch.safetensors py_numpy_nometa.safetensors py_hub_sharded py_llama; do
        if "$LOWBIT" info --json "$T/py/$key" > "$T/info.json" 2> "$T/err"; then
            "$LB_PY" "$CHECK" check "$T/py/expected.json" "$key" "$T/info.json" || fail "info $key"
        else
            fail "lowbit info --json $key: $(cat "$T/err")"
        fi
    done
    # the table form works too, on a file and on a sharded dir with config.json
    "$LOWBIT" info --file "$T/py/py_torch.safetensors" | grep -q "BF16" || fail "info table lacks BF16"
    "$LOWBIT" info "$T/py/py_llama" | grep -q "config:   llama" || fail "info table lacks the config summary"
else
    fail "Python could not write its files"
fi

# 3. errors: each must exit non-zero with "lowbit: error:" and a clue
expect_error() {   # expect_error CLUE CMD...
    local clue="$1"; shift
    if "$@" > "$T/out" 2> "$T/err"; then fail "'$*' succeeded"; return; fi
    grep -q "^lowbit: error:" "$T/err" || fail "'$*': no 'lowbit: error:' in: $(cat "$T/err")"
    grep -q -- "$clue" "$T/err" || fail "'$*': message lacks '$clue': $(cat "$T/err")"
}
printf 'abc' > "$T/tiny.safetensors"
expect_error "tiny.safetensors" "$LOWBIT" info "$T/tiny.safetensors"
if [ -f "$T/py/py_torch.safetensors" ]; then
    size=$(wc -c < "$T/py/py_torch.safetensors")
    head -c $((size - 5)) "$T/py/py_torch.safetensors" > "$T/cut.safetensors"
    expect_error "truncated" "$LOWBIT" info "$T/cut.safetensors"
    cp "$T/py/py_torch.safetensors" "$T/trail.safetensors" && printf 'xx' >> "$T/trail.safetensors"
    expect_error "trailing" "$LOWBIT" info --json "$T/trail.safetensors"
fi
head -c 4096 /dev/urandom > "$T/random.safetensors"
expect_error "random.safetensors" "$LOWBIT" info "$T/random.safetensors"
mkdir -p "$T/emptydir"
expect_error "no model.safetensors" "$LOWBIT" info "$T/emptydir"
expect_error "No such file" "$LOWBIT" info "$T/nonexistent.safetensors"
printf 'GGUF' > "$T/m.gguf"
expect_error "truncated" "$LOWBIT" info "$T/m.gguf"
expect_error "unknown flag '--bogus'" "$LOWBIT" info --bogus "$T/tiny.safetensors"
expect_error "which file" "$LOWBIT" info
expect_error "unexpected argument" "$LOWBIT" info a b
expect_error "unknown command 'no-such-command'" "$LOWBIT" no-such-command

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "all safetensors/Python checks passed"
