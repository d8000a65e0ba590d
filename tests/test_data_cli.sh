#!/usr/bin/env bash
# test_data_cli.sh — `lowbit data` through the real CLI with a real tokenizer.
#
# Checks: both splits are written and their counts add up; the result does
# not depend on the thread count (byte-identical files); with $LB_PY (h5py +
# tokenizers) the files read as is and every document equals the tokenizers
# library's encoding (no special tokens) followed by EOS, in order, each
# document in exactly one split; --val-fraction 0 writes no val file; bad
# inputs (a broken .jsonl line, an unknown extension, a missing file, an
# unknown flag, a bad --val-fraction, a missing tokenizer) fail with a
# message naming the culprit and leave the existing outputs untouched and no
# temporary files behind.
# Env: LOWBIT, LB_PY (may be empty), LB_SRC, LB_TMP. Exit 77: no tokenizer.
set -u
: "${LOWBIT:?LOWBIT must name the lowbit binary}" "${LB_SRC:?}" "${LB_TMP:?}"

TOK=""
for t in "$LB_SRC"/assets/tokenizers/code-8k/tokenizer.json "$LB_SRC"/tests/data/tok/*/tokenizer.json; do
  if [ -f "$t" ]; then TOK=$t; break; fi
done
if [ -z "$TOK" ]; then
  echo "SKIP: no tokenizer (assets/tokenizers/code-8k or tests/data/tok/*) in $LB_SRC"
  exit 77
fi
echo "tokenizer: $TOK"

mkdir -p "$LB_TMP"
W=$(mktemp -d "$LB_TMP/data_cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# ---- inputs: distinct documents (the split check relies on it) -------------
cat > "$W/a.txt" <<'EOF'
def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


print(fib(10))  # 55 — naïve café ✓
EOF
{
  for i in $(seq 1 40); do
    printf '{"text": "class C%d:\\n    def m(self, x):\\n        return x * %d  # résumé %d\\n", "id": %d}\n' "$i" "$i" "$i" "$i"
  done
  printf '\n'
  printf '{"text": ""}\n'                                   # empty: skipped
  printf '{"text": "tabs\\tand \\"quotes\\" and \\u00e9\\ud83d\\ude00 <|endoftext|>?"}\r\n'
} > "$W/b.jsonl"
printf 'x = [i ** 2 for i in range(100)]\n' > "$W/c.txt"
N_DOCS=43   # 1 + 41 + 1 (the empty one is skipped)

run() {  # run NAME ARGS...: stdout to $W/NAME.out, stderr to $W/NAME.err, echo rc
  local name=$1; shift
  "$LOWBIT" data "$@" > "$W/$name.out" 2> "$W/$name.err"
  echo $?
}
json_field() {  # json_field FILE KEY...: a value from the --json output, without python
  if [ -n "${LB_PY:-}" ]; then
    "$LB_PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: v=v[k]
print(v)' "$@"
  else
    local f=$1; shift
    tr -d ' \n' < "$f" | grep -o "\"$1\":{[^}]*}" | grep -o "\"$2\":[0-9]*" | cut -d: -f2
  fi
}

# ---- a good run --------------------------------------------------------------
rc=$(run good --input "$W/a.txt" --input "$W/b.jsonl" --input "$W/c.txt" --tokenizer "$TOK" \
  --out "$W/corpus.h5" --val-fraction 0.2 --seed 7 --threads 2 --json)
[ "$rc" = 0 ] || fail "good run exited $rc: $(cat "$W/good.err")"
[ -f "$W/corpus.h5" ] || fail "corpus.h5 missing"
[ -f "$W/corpus.val.h5" ] || fail "corpus.val.h5 missing"
ls "$W" | grep -q tmp && fail "temporary files left: $(ls "$W")"
if [ "$rc" = 0 ]; then
  tr=$(json_field "$W/good.out" train documents)
  va=$(json_field "$W/good.out" val documents)
  [ "$((tr + va))" = "$N_DOCS" ] || fail "train $tr + val $va documents != $N_DOCS"
  [ "$va" -ge 1 ] && [ "$tr" -ge 1 ] || fail "a split is empty (train $tr, val $va)"
fi

# the thread count does not change a byte (order kept, files reproducible)
rc=$(run one --input "$W/a.txt" --input "$W/b.jsonl" --input "$W/c.txt" --tokenizer "$TOK" \
  --out "$W/one.h5" --val-fraction 0.2 --seed 7 --threads 1)
[ "$rc" = 0 ] || fail "--threads 1 run exited $rc: $(cat "$W/one.err")"
cmp -s "$W/one.h5" "$W/corpus.h5" || fail "--threads 1 and --threads 2 give different corpus.h5"
cmp -s "$W/one.val.h5" "$W/corpus.val.h5" || fail "--threads 1 and --threads 2 give different val files"
grep -q "tokens/s" "$W/one.out" && grep -q "MB/s" "$W/one.out" || fail "summary lacks tokens/s, MB/s: $(cat "$W/one.out")"

# a different seed gives a different split
rc=$(run seed --input "$W/a.txt" --input "$W/b.jsonl" --input "$W/c.txt" --tokenizer "$TOK" \
  --out "$W/seed.h5" --val-fraction 0.2 --seed 8)
cmp -s "$W/seed.h5" "$W/corpus.h5" && fail "--seed 8 gives the same split as --seed 7"

# ---- the files against h5py and the tokenizers library, for every tokenizer --
# A tokenizer without an EOS token must be refused with a hint at --eos-id;
# the run is then repeated with --eos-id 0.
check_ref() {  # check_ref TOKENIZER PREFIX [EOS]
  "$LB_PY" - "$@" <<'EOF'
import hashlib, json, os, sys
import h5py, numpy as np
from tokenizers import Tokenizer

tok_path, prefix = sys.argv[1], sys.argv[2]
w = os.path.dirname(prefix)
tok = Tokenizer.from_file(tok_path)
docs = [open(f"{w}/a.txt", encoding="utf-8", newline="").read()]
for line in open(f"{w}/b.jsonl", encoding="utf-8", newline=""):
    if line.strip():
        t = json.loads(line)["text"]
        if t:
            docs.append(t)
docs.append(open(f"{w}/c.txt", encoding="utf-8", newline="").read())
sha = hashlib.sha256(open(tok_path, "rb").read()).hexdigest()
cfg = json.load(open(tok_path, encoding="utf-8"))
special = {t["id"] for t in cfg.get("added_tokens", []) if t.get("special")}

def split(path):
    f = h5py.File(path, "r")
    tokens, offs = f["tokens"][:], f["doc_offsets"][:]
    assert f["tokens"].dtype == np.uint32 and offs.dtype == np.uint64, (f["tokens"].dtype, offs.dtype)
    a = f.attrs
    assert a["format"] == "lowbit-tokens" and a["format_version"] == 1, dict(a)
    assert a["tokenizer_sha256"] == sha, (a["tokenizer_sha256"], sha)
    assert a["vocab_size"] >= tok.get_vocab_size(), (a["vocab_size"], tok.get_vocab_size())
    assert list(a["source_files"]) == [f"{w}/a.txt", f"{w}/b.jsonl", f"{w}/c.txt"], a["source_files"]
    assert offs[0] == 0 and offs[-1] == len(tokens) and np.all(np.diff(offs.astype(np.int64)) > 0)
    eos = int(a["eos_id"])
    return [tokens[offs[i]:offs[i + 1]].tolist() for i in range(len(offs) - 1)], eos

train, eos = split(f"{prefix}.h5")
val, eos_v = split(f"{prefix}.val.h5")
want_eos = int(sys.argv[3]) if len(sys.argv) > 3 else None
assert eos == eos_v and (eos == want_eos if want_eos is not None else eos in special), (eos, eos_v, sorted(special)[:10])
assert len(train) + len(val) == len(docs), (len(train), len(val), len(docs))
ti = vi = 0
for i, d in enumerate(docs):
    want = tok.encode(d, add_special_tokens=False).ids + [eos]
    if ti < len(train) and train[ti] == want:
        ti += 1
    elif vi < len(val) and val[vi] == want:
        vi += 1
    else:
        got = (train[ti] if ti < len(train) else val[vi] if vi < len(val) else None) or []
        k = next((j for j, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        sys.exit(f"document {i} ({d[:40]!r}): {len(want)} tokens expected, next in the files has {len(got)}; "
                 f"first difference at {k}: expected {want[k:k + 8]}, got {got[k:k + 8]}")
assert ti == len(train) and vi == len(val)
print(f"reference {tok_path}: {len(docs)} documents match tokenizers {len(train)} train + {len(val)} val, eos {eos}")
EOF
}
if [ -n "${LB_PY:-}" ]; then
  check_ref "$TOK" "$W/corpus" || fail "reference check (h5py/tokenizers) failed for $TOK"
  k=0
  for t in "$LB_SRC"/tests/data/tok/*/tokenizer.json; do
    [ -f "$t" ] && [ "$t" != "$TOK" ] || continue
    k=$((k + 1))
    args=(--input "$W/a.txt" --input "$W/b.jsonl" --input "$W/c.txt" --tokenizer "$t" --out "$W/ref$k.h5" --val-fraction 0.3)
    rc=$(run "ref$k" "${args[@]}")
    eos=()
    if [ "$rc" != 0 ] && grep -q -- "--eos-id" "$W/ref$k.err"; then
      rc=$(run "ref$k" "${args[@]}" --eos-id 0)
      eos=(0)
    fi
    [ "$rc" = 0 ] || { fail "$t: exited $rc: $(cat "$W/ref$k.err")"; continue; }
    check_ref "$t" "$W/ref$k" "${eos[@]}" || fail "reference check (h5py/tokenizers) failed for $t"
  done
else
  echo "note: LB_PY empty; skipping the h5py/tokenizers comparison"
fi

# ---- --val-fraction 0: no val file -------------------------------------------
rc=$(run noval --input "$W/c.txt" --tokenizer "$TOK" --out "$W/noval.h5" --val-fraction 0)
[ "$rc" = 0 ] && [ -f "$W/noval.h5" ] || fail "--val-fraction 0 run failed: $(cat "$W/noval.err")"
[ -e "$W/noval.val.h5" ] && fail "--val-fraction 0 wrote a val file"

# ---- two documents: each split gets one, whatever the fraction -------------
for frac in 0.001 0.999; do
  rc=$(run two --input "$W/a.txt" --input "$W/c.txt" --tokenizer "$TOK" --out "$W/two.h5" --val-fraction $frac --json)
  [ "$rc" = 0 ] || fail "two documents, --val-fraction $frac: exited $rc: $(cat "$W/two.err")"
  tr=$(json_field "$W/two.out" train documents)
  va=$(json_field "$W/two.out" val documents)
  [ "$tr" = 1 ] && [ "$va" = 1 ] || fail "two documents, --val-fraction $frac: train $tr, val $va (want 1 and 1)"
done

# ---- failures: named culprit, outputs untouched, nothing left behind -----------
before=$(cksum "$W/corpus.h5" "$W/corpus.val.h5")
files_before=$(ls "$W" | grep -v '\.out$\|\.err$')
expect_fail() {  # expect_fail NAME NEEDLE ARGS...
  local name=$1 needle=$2; shift 2
  local r
  r=$(run "$name" "$@")
  [ "$r" != 0 ] || fail "$name: exited 0"
  grep -qF -- "$needle" "$W/$name.err" || fail "$name: stderr lacks '$needle': $(cat "$W/$name.err")"
  grep -q "^lowbit: error: " "$W/$name.err" || fail "$name: no 'lowbit: error:' line"
}
printf '{"text": "fine"}\n\n{"text": "broken}\n{"text": "after"}\n' > "$W/broken.jsonl"
printf 'a,b\n' > "$W/x.csv"
common=(--tokenizer "$TOK" --out "$W/corpus.h5")
expect_fail broken "$W/broken.jsonl:3" --input "$W/a.txt" --input "$W/broken.jsonl" "${common[@]}"
printf '{"content": "x"}\n' > "$W/notext.jsonl"
expect_fail notext "$W/notext.jsonl:1" --input "$W/notext.jsonl" "${common[@]}"
expect_fail csv "$W/x.csv" --input "$W/a.txt" --input "$W/x.csv" "${common[@]}"
grep -qF ".jsonl" "$W/csv.err" || fail "csv: the message does not list the accepted kinds"
expect_fail missing "$W/nope.txt" --input "$W/nope.txt" "${common[@]}"
expect_fail flag "--bogus" --input "$W/a.txt" --bogus 3 "${common[@]}"
expect_fail frac "--val-fraction" --input "$W/a.txt" --val-fraction 1.5 "${common[@]}"
expect_fail noinput "--input" "${common[@]}"
expect_fail notok "$W/no-such-tokenizer" --input "$W/a.txt" --tokenizer "$W/no-such-tokenizer" --out "$W/corpus.h5"
expect_fail outdir "$W/no/dir/x.h5" --input "$W/a.txt" --tokenizer "$TOK" --out "$W/no/dir/x.h5"
expect_fail eos "--eos-id" --input "$W/a.txt" --eos-id 99999999 "${common[@]}"
after=$(cksum "$W/corpus.h5" "$W/corpus.val.h5")
[ "$before" = "$after" ] || fail "a failed run changed corpus.h5 or corpus.val.h5"
files_after=$(ls "$W" | grep -v '\.out$\|\.err$' | grep -v '^broken.jsonl$\|^x.csv$\|^notext.jsonl$')
[ "$files_before" = "$files_after" ] || fail "failed runs left files: $(diff <(echo "$files_before") <(echo "$files_after"))"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all data CLI checks passed"
