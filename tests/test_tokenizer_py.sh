#!/usr/bin/env bash
# test_tokenizer_py.sh — lowbit's tokenizer against the Hugging Face tokenizers
# library on thousands of random texts. Regenerates the nine reference
# tokenizers (scripts/parity/make_tokenizers.py) into $LB_TMP, encodes random
# texts with the library (scripts/parity/fuzz_tokenizers.py) and checks that
# the test_tokenizer binary (beside $LOWBIT) gives the same ids and decoded
# text, and round-trips wherever the library does. For the Unicode normalizer
# cases (qwen2: NFC, nfkd_lower: NFKD+Lowercase+StripAccents, strip_nfd) the
# fuzz leaves out the ~390 characters (73 ranges, make_tokenizers.py
# LIB_UNICODE_DIFFS) that the library's older Unicode data (about 9.0, in
# unicode-normalization-alignments) normalizes differently from Unicode 14.0:
# characters assigned since then with decompositions, combining classes or the
# Mark category. Skips (77) without $LB_PY.
set -euo pipefail
[ -n "${LB_PY:-}" ] || { echo "skip: LB_PY is empty"; exit 77; }
"$LB_PY" -c 'import tokenizers' 2>/dev/null || { echo "skip: $LB_PY has no tokenizers"; exit 77; }
BIN="$(dirname "$LOWBIT")/test_tokenizer"
[ -x "$BIN" ] || { echo "missing $BIN"; exit 1; }
DIR="$LB_TMP/tokenizer_py"
rm -rf "$DIR"
mkdir -p "$DIR"
"$LB_PY" "$LB_SRC/scripts/parity/make_tokenizers.py" --out "$DIR" >/dev/null
mkdir -p "$DIR/code8k"   # the committed default tokenizer, fuzzed as it is
cp "$LB_SRC/assets/tokenizers/code-8k/tokenizer.json" "$DIR/code8k/"
"$LB_PY" "$LB_SRC/scripts/parity/fuzz_tokenizers.py" --dir "$DIR" --n "${LB_TOK_FUZZ_N:-3000}"
fail=0
for c in bytelevel llama3 legacy splits spm metaspace qwen2 nfkd_lower strip_nfd code8k; do
    rt=""
    case $c in bytelevel|llama3|legacy|splits|qwen2|nfkd_lower|strip_nfd|code8k) rt="--roundtrip" ;; esac
    for f in cases fuzz; do
        [ -f "$DIR/$c/$f.json" ] || continue
        "$BIN" --tokenizer "$DIR/$c/tokenizer.json" --cases "$DIR/$c/$f.json" $rt || fail=1
    done
done
exit $fail
