#!/usr/bin/env bash
# demo.sh — lowbit's main job on a built-in default, on the CPU.
#
# Installs what it needs and builds (scripts/setup.sh), then:
#   1. makes a ~12M-parameter Llama with the bundled code tokenizer (lowbit init)
#   2. builds a corpus from the Python sources already on this machine
#   3. tokenizes it into HDF5 train/validation splits (lowbit data)
#   4. trains it briefly on that corpus (lowbit train), giving a base model
#   5. quantizes the base to llama.cpp's q4_0 (4.5 bits) two ways with the
#      same budget: round-to-nearest (lowbit ptq) and a short QAT run (lowbit
#      train --wq), beside a plain fine-tune over the same tokens, and prints
#      their perplexities
#   6. generates a few lines (lowbit generate)
#   7. exports the QAT model to GGUF q4_0 (lowbit export: losslessly, the run's
#      own codes and scales), evaluates the .gguf (the QAT run's perplexity)
#      and generates from it
# Everything goes to demo-out/ (or $LB_DEMO_OUT). LB_DEMO_STEPS scales the
# training (default 30 base steps, half that for each fine-tune).
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

steps=${LB_DEMO_STEPS:-30}
ft=$((steps / 2))
dev=${LB_DEMO_DEVICE:-cpu}
train() { "$lowbit" train --data "$out/code.h5" --ctx 256 --batch 8 --eval-windows 8 --device "$dev" "$@"; }

echo "== 4. a base model: $steps training steps from random weights =="
rm -rf "$out/base" "$out/ft" "$out/rtn" "$out/qat"
train --model "$out/model" --out "$out/base" --steps "$steps" --lr 2e-3 --warmup 3

echo "== 5. q4_0 two ways (and a plain fine-tune over the same $ft steps) =="
"$lowbit" ptq --method rtn --wq q4_0 --model "$out/base/model" --out "$out/rtn"
train --model "$out/base/model" --out "$out/ft" --steps "$ft" --lr 5e-4 --seed 2
train --model "$out/base/model" --out "$out/qat" --steps "$ft" --lr 5e-4 --seed 2 --wq q4_0

echo
printf '%-34s %10s\n' "model (validation, ctx 256)" "ppl"
ppl() {   # ppl MODEL: validation perplexity, the same windows for every model
  "$lowbit" eval --model "$1" --data "$out/code.val.h5" --ctx 256 --max-windows 16 --json |
    python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}
for row in "base (fp32):base/model" "fine-tuned fp32:ft" "RTN q4_0:rtn" "QAT q4_0:qat"; do
  name=${row%:*}; dir=${row##*:}
  printf '%-34s %10s\n' "$name" "$(ppl "$out/$dir")"
done
echo

echo "== 6. generate (from the QAT model) =="
"$lowbit" generate --model "$out/qat" --prompt "def main(argv):" --max-tokens 32 --temperature 0.8 --top-k 40 --seed 7

echo
echo "== 7. export the QAT model to GGUF q4_0 (llama.cpp's format) and generate from the file alone =="
"$lowbit" export --model "$out/qat" --format gguf --type q4_0 --out "$out/qat-q4_0.gguf" --quiet
printf '%-34s %10s\n' "QAT q4_0, from the .gguf" "$(ppl "$out/qat-q4_0.gguf")"
"$lowbit" generate --model "$out/qat-q4_0.gguf" --prompt "def main(argv):" --max-tokens 32 --temperature 0.8 --top-k 40 --seed 7

echo "demo: done (outputs in $out). A few dozen CPU steps make a weak model; the table shows the pipeline, not final quality."
