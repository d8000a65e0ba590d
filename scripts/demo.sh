#!/usr/bin/env bash
# demo.sh — lowbit's main job on a built-in default, on the CPU.
#
# Installs what it needs and builds (scripts/setup.sh), then:
#   1. makes a ~12M-parameter Llama with the bundled code tokenizer (lowbit init)
#   2. builds a corpus from the Python sources already on this machine
#   3. tokenizes it into HDF5 train/validation splits (lowbit data)
#   4. measures perplexity on the validation split (lowbit eval)
#   5. generates a few lines (lowbit generate)
# Everything goes to demo-out/ (or $LB_DEMO_OUT). Later capabilities (QAT,
# PTQ, export) extend this script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${LB_DEMO_OUT:-$root/demo-out}
LB_NO_REF=${LB_NO_REF:-1} scripts/setup.sh
lowbit=$root/build/lowbit
mkdir -p "$out"

echo "== 1. a small Llama (random weights) =="
"$lowbit" init --config llama-12m --tokenizer assets/tokenizers/code-8k --out "$out/model" --force --seed 1

echo "== 2. a corpus from this machine's Python sources =="
pysrc=$(python3 -c 'import os; print(os.path.dirname(os.__file__))')
python3 - "$pysrc" "$out/corpus.jsonl" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
files = []
for d, _, names in os.walk(src):
    if "site-packages" in d or "test" in d:
        continue
    files += [os.path.join(d, n) for n in names if n.endswith(".py")]
files.sort()
n = 0
with open(dst, "w") as f:
    for p in files[:600]:
        try:
            text = open(p, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        f.write(json.dumps({"text": text}) + "\n")
        n += 1
print(f"corpus: {n} files from {src}")
PY

echo "== 3. tokenize into HDF5 =="
"$lowbit" data --input "$out/corpus.jsonl" --tokenizer "$out/model" --out "$out/code.h5" --val-fraction 0.05
"$lowbit" info "$out/code.val.h5"

echo "== 4. perplexity on the validation split =="
"$lowbit" eval --model "$out/model" --data "$out/code.val.h5" --ctx 512 --max-windows 16

echo "== 5. generate =="
"$lowbit" generate --model "$out/model" --prompt "def main(argv):" --max-tokens 32 --temperature 0.8 --top-k 40 --seed 7

echo "demo: done (outputs in $out). The model is untrained, so its perplexity is near its vocabulary size."
