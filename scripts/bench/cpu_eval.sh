#!/usr/bin/env bash
# cpu_eval.sh — lowbit eval tokens/s on the CPU for a ~12M-parameter Llama at
# ctx 512, beside the floor implied by the model's FLOPs and the OpenBLAS
# sgemm rate measured on this machine; and the tokenizer's MB/s in lowbit data.
# Prints a table; asserts nothing.
#   scripts/bench/cpu_eval.sh [--windows N] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
windows=8
threads=0
while [ $# -gt 0 ]; do
  case "$1" in
    --windows) windows=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "cpu_eval.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done
LB_NO_REF=1 scripts/setup.sh >/dev/null
lowbit=$root/build/lowbit
work=${LB_BENCH_OUT:-$root/out/bench-cpu}
mkdir -p "$work"
cc -O2 -o "$work/sgemm_rate" scripts/bench/sgemm_rate.c -I/usr/include/x86_64-linux-gnu -lopenblas

"$lowbit" init --config llama-12m --tokenizer assets/tokenizers/code-8k --out "$work/model" --force >/dev/null 2>&1
pysrc=$(python3 -c 'import os; print(os.path.dirname(os.__file__))')
find "$pysrc" -maxdepth 1 -name '*.py' | sort | head -200 | python3 -c '
import json, sys
with open(sys.argv[1], "w") as f:
    for p in sys.stdin.read().split():
        f.write(json.dumps({"text": open(p, encoding="utf-8", errors="replace").read()}) + "\n")
' "$work/corpus.jsonl"
mb=$(du -m "$work/corpus.jsonl" | cut -f1)
data_json=$("$lowbit" data --input "$work/corpus.jsonl" --tokenizer "$work/model" --out "$work/code.h5" \
            --val-fraction 0.1 --json --threads "$threads" 2>/dev/null)
eval_json=$("$lowbit" eval --model "$work/model" --data "$work/code.h5" --ctx 512 --max-windows "$windows" \
            --json --threads "$threads" 2>/dev/null)

python3 - "$work" "$work/model/config.json" "$data_json" "$eval_json" "$threads" <<'PY'
import json, subprocess, sys
work, cfg_path, data_json, eval_json, threads = sys.argv[1:6]
cfg = json.load(open(cfg_path))
C, I, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
hd = cfg.get("head_dim") or C // nh
T = 512
# GEMMs of one window: (M=T) x (N, K) per linear; attention scores and mixing per head.
shapes = [(T, nh * hd, C), (T, nkv * hd, C), (T, nkv * hd, C), (T, C, nh * hd),
          (T, I, C), (T, I, C), (T, C, I)] * L + [(T, V, C)]
attn_flops = L * nh * 2 * 2 * T * T * hd / 2          # QK^T and PV, causal half
lin_flops = sum(2 * m * n * k for m, n, k in shapes)
uniq = sorted(set(shapes))
env = dict(**__import__("os").environ)
if int(threads) > 0:
    env["OPENBLAS_NUM_THREADS"] = threads
out = subprocess.run([f"{work}/sgemm_rate"] + [f"{m},{n},{k}" for m, n, k in uniq],
                     capture_output=True, text=True, check=True, env=env).stdout.split("\n")
per = {}
peak = 0.0
for line in out:
    if line.strip():
        m, n, k, t, g = line.split()
        per[(int(m), int(n), int(k))] = float(t)
        peak = max(peak, float(g))
gemm_time = sum(per[s] for s in shapes)               # measured sgemm time at the model's shapes
flop_floor = (lin_flops + attn_flops) / (peak * 1e9)  # all FLOPs at the best measured rate
d = json.loads(data_json)
e = json.loads(eval_json)
tok_s = e["tokens_per_s"]
print()
print(f"model: llama-12m preset, {L} layers, hidden {C}, heads {nh}/{nkv}, inter {I}, vocab {V}; ctx {T}")
print(f"{'measure':44s} {'tokens/s':>12s} {'vs lowbit':>10s}")
rows = [("lowbit eval (measured)", tok_s),
        ("floor: sgemm time at the model's shapes", T / gemm_time),
        ("floor: all FLOPs at peak sgemm rate", T / flop_floor)]
for name, v in rows:
    print(f"{name:44s} {v:12.0f} {v / tok_s:10.2f}")
print(f"peak measured sgemm: {peak:.1f} GFLOP/s; forward FLOPs/token: {(lin_flops + attn_flops) / T / 1e6:.1f} M")
print(f"lowbit eval achieves {tok_s * (lin_flops + attn_flops) / T / 1e9:.1f} GFLOP/s "
      f"({100 * tok_s * (lin_flops + attn_flops) / T / 1e9 / peak:.0f}% of peak sgemm)")
print(f"tokenizer (lowbit data): {d.get('mb_per_s', float('nan')):.2f} MB/s, "
      f"{d.get('tokens_per_s', float('nan')):.0f} tokens/s")
PY
